import Administration
import ArgumentParser
import Foundation
import Relay

struct RelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay", abstract: "Outbound deliveries to partners.", subcommands: [Status.self, DeadLetters.self, Redrive.self])

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Outbox messages by partner and state.")
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let rows = try await options.run { admin, _ in try await admin.relayStatus() }
            if rows.isEmpty { print("the outbox is empty") }
            for row in rows {
                print("\(row.partnerID.padding(toLength: 12, withPad: " ", startingAt: 0)) \(row.state.padding(toLength: 10, withPad: " ", startingAt: 0)) \(row.count)"
                    + (row.oldestQueued.map { "   oldest waiting since \(ISO8601DateFormatter().string(from: $0))" } ?? ""))
            }
        }
    }

    struct DeadLetters: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "dead-letters", abstract: "Messages whose last attempt failed.")
        @Option(help: "Only this partner's.") var partner: String?
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let partner = self.partner
            let letters = try await options.run { admin, _ in try await admin.deadLetters(partner: partner) }
            if letters.isEmpty { print("no dead letters") }
            for letter in letters {
                print("\(letter.messageId) \(letter.partnerID) \(letter.contract) attempts: \(letter.attempts) — \(letter.lastError ?? "")")
            }
        }
    }

    struct Redrive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Queue dead letters again: one message, or all of a partner's.")
        @Argument(help: "The message id.") var messageId: String?
        @Option(help: "Every dead letter of this partner.") var partner: String?
        @OptionGroup var options: AdminOptions

        func validate() throws {
            guard (messageId == nil) != (partner == nil) else { throw ValidationError("give a message id or --partner, not both") }
            if let messageId, UUID(uuidString: messageId) == nil { throw ValidationError("\(messageId) is not a message id") }
        }

        func run() async throws {
            let (id, partner) = (messageId.flatMap(UUID.init(uuidString:)), self.partner)
            let ids = try await options.run { admin, actor in try await admin.redrive(messageId: id, partner: partner, by: actor) }
            print("queued again: \(ids.count) message(s)")
        }
    }
}
