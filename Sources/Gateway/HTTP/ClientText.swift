/// Client input that an error message or the request log repeats.
enum ClientText {
    /// How much of it is repeated. A model name comes from the body and a header value from the
    /// head, each as long as the server's limits allow (megabytes for a body); repeated whole it
    /// would make a 404 or a log line as large. Real model names and codings are far shorter.
    static let echoLimit = 256

    /// `text`, cut at `echoLimit` characters with an ellipsis when longer.
    static func echo(_ text: some StringProtocol) -> String {
        // utf8.count is O(1) on native strings: the common, short case costs no character walk.
        guard text.utf8.count > echoLimit, text.count > echoLimit else { return String(text) }
        return text.prefix(echoLimit) + "…"
    }
}
