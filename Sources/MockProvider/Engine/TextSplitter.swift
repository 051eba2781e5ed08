/// Splits streamed text into pieces whose concatenation is the text.
enum TextSplitter {
    /// One piece per word (each word keeps the whitespace after it) when `count` is nil,
    /// otherwise `count` pieces of near-equal length (the first ones one scalar longer).
    static func pieces(_ text: String, count: Int?) -> [String] {
        let scalars = Array(text.unicodeScalars)
        if scalars.isEmpty { return [""] }
        guard let count, count > 0 else { return words(scalars) }
        let n = min(count, scalars.count)
        let base = scalars.count / n
        let extra = scalars.count % n
        var pieces: [String] = []
        pieces.reserveCapacity(n)
        var start = 0
        for i in 0..<n {
            let length = base + (i < extra ? 1 : 0)
            pieces.append(string(scalars[start..<(start + length)]))
            start += length
        }
        return pieces
    }

    private static func words(_ scalars: [Unicode.Scalar]) -> [String] {
        var pieces: [String] = []
        var start = 0
        for i in 1..<max(scalars.count, 1) where !isSpace(scalars[i]) && isSpace(scalars[i - 1]) {
            pieces.append(string(scalars[start..<i]))
            start = i
        }
        pieces.append(string(scalars[start...]))
        return pieces
    }

    private static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace
    }

    private static func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }
}
