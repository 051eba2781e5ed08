import Testing

@testable import Gateway

@Suite("Upstream client: provider URLs split into pool and path")
struct UpstreamClientTests {
    @Test func urls() throws {
        func split(_ url: String) throws -> (Bool, String, Int, String) {
            let (key, path) = try UpstreamClient.parse(url)
            return (key.tls, key.host, key.port, path)
        }
        #expect(try split("https://api.openai.com/v1/chat/completions") == (true, "api.openai.com", 443, "/v1/chat/completions"))
        #expect(try split("http://127.0.0.1:8090/v1/chat/completions?x=1") == (false, "127.0.0.1", 8090, "/v1/chat/completions?x=1"))
        #expect(try split("http://localhost") == (false, "localhost", 80, "/"))
        #expect(try split("https://[::1]:8443/v1") == (true, "::1", 8443, "/v1"))
        #expect(try split("https://user:secret@host.example/v1") == (true, "host.example", 443, "/v1"))
        for bad in ["ftp://host/v1", "http://:80/v1", "http://host:0/v1", "http://host:99999/v1", "http://host:x/v1", "host/v1"] {
            #expect(throws: UpstreamClientError(.badURL)) { try UpstreamClient.parse(bad) }
        }
    }
}
