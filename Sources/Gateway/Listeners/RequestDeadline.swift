import NIOCore
import NIOHTTP1

/// How long a client may take to send what it sends: a request's head, and its whole body.
public struct RequestDeadlines: Sendable {
    /// From a request's first byte to the end of its head.
    public var head: Duration = .seconds(10)
    /// From the end of a request's head to the end of its body.
    public var body: Duration = .seconds(30)

    public init() {}
}

/// The first byte of a request since the last answer: a connection that sends nothing is idle (the idle timeout's
/// business), one that has begun a request must finish its head in time. Shared by the two handlers of one
/// connection, on its event loop.
final class RequestActivity {
    var begun = false
    /// Called once per request, at its first byte.
    var onBegin: () -> Void = {}
}

/// Notes the first byte of each request before NIO's HTTP/1 decoder (which says nothing until a head is whole).
final class RequestActivityHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let activity: RequestActivity

    init(activity: RequestActivity) { self.activity = activity }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !activity.begun {
            activity.begun = true
            activity.onBegin()
        }
        context.fireChannelRead(data)
    }
}

/// Closes connections that send too slowly (slow-loris): the idle timeout alone never fires for a client that
/// trickles a byte a second. A request whose head or body is late gets 408 `request-timeout` and the connection is
/// closed; nothing of it reaches the routes or the log. A connection that sends nothing at all is left to the idle
/// timeout. Sits right after NIO's HTTP/1 request decoder, so it also answers what that decoder refuses — a head
/// over its 80 KiB limit (431) or bytes that are not HTTP (400) — with a problem document, where Hummingbird would
/// send an empty 400.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let deadlines: RequestDeadlines
    private let activity: RequestActivity
    private var timer: Scheduled<Void>?
    /// Requests read whose answer has not been written yet (pipelined requests queue).
    private var unanswered = 0
    /// Answered with a refusal and closing: nothing more is read.
    private var refused = false

    init(deadlines: RequestDeadlines, activity: RequestActivity) {
        self.deadlines = deadlines
        self.activity = activity
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // The head is due a fixed time after its first byte (a connection that sends nothing is the idle timeout's).
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        activity.onBegin = {
            let (handler, context) = bound.value
            if handler.unanswered == 0 { handler.arm(context, after: handler.deadlines.head) }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        switch unwrapInboundIn(data) {
        case .head:
            unanswered += 1
            arm(context, after: deadlines.body)
        case .body:
            break
        case .end:
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            unanswered = max(0, unanswered - 1)
            // Answered, and nothing else being read: the next request's deadline starts at its first byte.
            if unanswered == 0, timer == nil { activity.begun = false }
        }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext, after duration: Duration) {
        timer?.cancel()
        let (seconds, attoseconds) = duration.components
        let delay = TimeAmount.nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: delay) {
            let (handler, context) = bound.value
            handler.expire(context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A request already passed on is the routes' to answer (Hummingbird closes the connection for them).
        guard let parseError = error as? HTTPParserError, unanswered == 0 || refused else {
            context.fireErrorCaught(error)
            return
        }
        // The decoder refuses everything after its first error; one answer, then the connection closes.
        guard !refused else { return }
        timer?.cancel()
        timer = nil
        refuse(context, with: parseError == .headerOverflow ? .headersTooLarge : .malformedRequest)
    }

    private func expire(_ context: ChannelHandlerContext) {
        timer = nil
        refuse(context, with: .requestTimeout)
    }

    /// Answers `problem` and closes. The request never reached the routes, so it has no log entry.
    private func refuse(_ context: ChannelHandlerContext, with problem: Problem) {
        refused = true
        let body = #"{"type":"\#(problem.type)","title":"\#(problem.title)","status":\#(problem.status)}"#
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/problem+json")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Connection", value: "close")
        let status = HTTPResponseStatus(statusCode: problem.status)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        // A lingering close: what the client still sends is read and dropped for a moment, so that closing does not
        // reset the connection (a TCP reset can destroy the 408 before the client reads it).
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            bound.value.eventLoop.scheduleTask(in: .seconds(1)) { bound.value.close(promise: nil) }
        }
    }
}
