import Foundation
import Schemas

/// Why an exchange is refused by the agreements; each reason is a stable problem type at the HTTP edge.
public enum Refusal: String, Sendable, Error, CaseIterable {
    case noAgreement = "no-agreement"
    case operationNotGranted = "operation-not-granted"
    case purposeNotGranted = "purpose-not-granted"
    case outsideValidity = "agreement-not-in-force"
    /// The agreement lacks fields its contract requires beside the ones it grants (granted before grants were
    /// checked for it): nothing is sent rather than fields nobody granted.
    case agreementIncomplete = "agreement-incomplete"
    /// The agreement carries a nationality scope on a contract or an operation it cannot apply to (stored before
    /// grants were checked for it): refused rather than ignored.
    case scopeNotApplicable = "agreement-scope-not-applicable"
}

/// Decides whether a partner may perform an operation on a contract for a purpose, now; default deny.
public enum AgreementPolicy {
    /// The fields to send when permitted: exactly the agreement's grant.
    public static func decide(
        agreements: [Agreement], contract: Contract, operation: Agreement.Operation, purpose: String, at now: Date
    ) -> Result<(Agreement, FieldSelection), Refusal> {
        let forContract = agreements.filter { $0.contract == contract.id }
        guard !forContract.isEmpty else { return .failure(.noAgreement) }
        let withOperation = forContract.filter { $0.operations.contains(operation) }
        guard !withOperation.isEmpty else { return .failure(.operationNotGranted) }
        let withPurpose = withOperation.filter { $0.purposes.contains(purpose) }
        guard !withPurpose.isEmpty else { return .failure(.purposeNotGranted) }
        guard let inForce = withPurpose.first(where: { $0.validFrom <= now && now < $0.validUntil }) else {
            return .failure(.outsideValidity)
        }
        guard contract.missingCompanions(of: inForce.fields).isEmpty else { return .failure(.agreementIncomplete) }
        if inForce.scopeNationalities != nil, contract.subjectNationalityField == nil || operation == .send { return .failure(.scopeNotApplicable) }
        return .success((inForce, contract.selection(granting: inForce.fields)))
    }
}
