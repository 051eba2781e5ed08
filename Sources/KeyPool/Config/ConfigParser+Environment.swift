import Foundation

extension ConfigParser {
    /// Replaces every `${NAME}` in `text` with the variable's value from the injected environment.
    ///
    /// Keys belong in the environment or a secret store, not in a file under version control,
    /// so any key, access key, Redis URL, base URL or header value may reference one. An unset
    /// variable is a problem naming the path and the variable (never a value).
    mutating func expandEnvironment(in text: String, at path: String) -> String? {
        guard text.contains("${") else { return text }
        var result = ""
        var rest = text[...]
        var ok = true
        while let start = rest.range(of: "${") {
            result += rest[..<start.lowerBound]
            let afterOpen = rest[start.upperBound...]
            guard let close = afterOpen.firstIndex(of: "}"), Self.isVariableName(afterOpen[..<close]) else {
                problem("\(path) has a malformed ${...} reference; write ${NAME} with letters, digits and _")
                return nil
            }
            let name = String(afterOpen[..<close])
            if let value = environment[name] {
                result += value
            } else {
                problem("\(path) references unset environment variable \(name)")
                ok = false
            }
            rest = afterOpen[afterOpen.index(after: close)...]
        }
        result += rest
        return ok ? result : nil
    }

    private static func isVariableName(_ name: Substring) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic)
        else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }
}
