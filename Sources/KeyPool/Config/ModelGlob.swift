/// Glob matching for model names: `*` matches any run of characters (empty, or containing `/`);
/// every other character matches itself, case-sensitively, as providers compare model names.
enum ModelGlob {
    static func matches(pattern: String, name: String) -> Bool {
        // Iterative wildcard matching with one backtrack point: linear in practice and never
        // exponential, whatever the number of stars.
        let p = Array(pattern.unicodeScalars), s = Array(name.unicodeScalars)
        var pi = 0, si = 0
        var star: Int? = nil, starMatch = 0
        while si < s.count {
            if pi < p.count, p[pi] != "*", p[pi] == s[si] {
                pi += 1
                si += 1
            } else if pi < p.count, p[pi] == "*" {
                star = pi
                starMatch = si
                pi += 1
            } else if let starIndex = star {
                pi = starIndex + 1
                starMatch += 1
                si = starMatch
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}
