import Administration
import ArgumentParser
import Foundation
import Gateway
import MessageLog
import PKI
import Relay

struct InboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inbox", abstract: "Documents partners sent in (POST /v1/messages).", subcommands: [List.self, Show.self, Ack.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Received documents, oldest first.")
        @Option(help: "Only this partner's.") var partner: String?
        @Flag(help: "Include acknowledged ones.") var all = false
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let (partner, all) = (self.partner, self.all)
            let rows = try await options.run { admin, _ in try await admin.inbox(partner: partner, unacknowledgedOnly: !all) }
            if rows.isEmpty { print("the inbox is empty") }
            for row in rows {
                print("\(row.messageId.uuidString.lowercased()) \(row.partnerID) \(row.contract) received \(ISO8601DateFormatter().string(from: row.receivedAt))"
                    + (row.acknowledgedAt == nil ? "" : " (acknowledged)"))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print one received document as it arrived.")
        @Argument(help: "Message id.") var messageId: String
        @OptionGroup var pkiOptions: PKIOptions
        @OptionGroup var options: AdminOptions

        func run() async throws {
            guard let id = UUID(uuidString: messageId) else { throw ValidationError("\(messageId) is not a message id") }
            let pki = pkiOptions.directory
            let secret = try SubjectKeyFile.read(pki.subjectKey)
            let sealer = FileManager.default.fileExists(atPath: pki.bodyKeys) ? try BodySealer(secret: secret, keyFolder: pki.bodyKeys) : BodySealer(secret: secret)
            let (row, body) = try await options.run { admin, actor in try await admin.inboxMessage(id, sealer: sealer, by: actor) }
            print("\(row.partnerID) \(row.contract) \(row.mediaType) idempotency reference \(row.idempotencyReference.prefix(16))…")
            print(String(decoding: body, as: UTF8.self))
        }
    }

    struct Ack: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mark a received document as handled.")
        @Argument(help: "Message id.") var messageId: String
        @OptionGroup var options: AdminOptions

        func run() async throws {
            guard let id = UUID(uuidString: messageId) else { throw ValidationError("\(messageId) is not a message id") }
            try await options.run { admin, actor in try await admin.acknowledge(id, by: actor) }
            print("acknowledged \(id.uuidString.lowercased())")
        }
    }
}
