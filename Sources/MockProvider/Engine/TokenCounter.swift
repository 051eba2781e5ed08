/// The documented token rule, identical for the three APIs: a text of n Unicode scalars
/// (Python's `len()`) is ceil(n / 4) tokens.
enum TokenCounter {
    static let charactersPerToken = 4

    static func tokens(characters: Int) -> Int {
        (characters + charactersPerToken - 1) / charactersPerToken
    }

    static func tokens(_ text: String) -> Int {
        tokens(characters: text.unicodeScalars.count)
    }
}
