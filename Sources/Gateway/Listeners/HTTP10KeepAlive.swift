import Logging
import NIOCore
import NIOHTTP1

/// HTTP/1.0 connection semantics: kept open when the client asks (`Connection: keep-alive`) and said so, closed
/// after the answer otherwise.
///
/// Swift HTTP Types carry no protocol version, so without this a 1.0 client (ApacheBench, many legacy
/// systems) would never be told that its connection stays open, and would reconnect — a TLS handshake per
/// request. This handler sits right after NIO's HTTP/1 decoder, where the version is still known.
final class HTTP10ConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    enum Answer {
        case http11
        case keepAlive10
        case close10
    }

    /// One entry per request awaiting its answer, in order (requests may be pipelined).
    private var answers: CircularBuffer<Answer> = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            answers.append(head.version != .http1_0 ? .http11 : head.isKeepAlive ? .keepAlive10 : .close10)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.code >= 200:
            if answers.first == .keepAlive10, !head.headers.contains(name: "connection") {
                head.headers.add(name: "Connection", value: "keep-alive")
            }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end:
            let answer = answers.popFirst()
            guard answer == .close10 else {
                context.write(data, promise: promise)
                return
            }
            let written = promise ?? context.eventLoop.makePromise()
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            written.futureResult.whenComplete { _ in bound.value.close(promise: nil) }
            context.write(data, promise: written)
        default:
            context.write(data, promise: promise)
        }
    }
}

/// Added by Hummingbird after its HTTP codec (where it lets handlers in); places the handlers that need HTTP/1
/// itself around NIO's request decoder — the request deadlines and the HTTP/1.0 connection semantics — then only
/// passes data on.
///
/// A connection it cannot equip is closed, never served without its deadlines: slow-client protection must not
/// vanish because a pipeline changed shape (an upgrade of Hummingbird or NIO that moved the decoder).
final class HTTP1HandlerInstaller: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let deadlines: RequestDeadlines
    private let logger: Logger

    init(deadlines: RequestDeadlines, logger: Logger) {
        self.deadlines = deadlines
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let pipeline = context.pipeline.syncOperations
        do {
            let decoder = try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            let activity = RequestActivity()
            try pipeline.addHandler(RequestActivityHandler(activity: activity), position: .before(decoder))
            try pipeline.addHandler(HTTP10ConnectionHandler(), position: .after(decoder))
            try pipeline.addHandler(RequestDeadlineHandler(deadlines: deadlines, activity: activity), position: .after(decoder))
        } catch {
            logger.error("a connection's request deadlines could not be installed; it is closed", metadata: ["jisr.error": "\(error)"])
            context.close(promise: nil)
        }
    }
}
