import NIOConcurrencyHelpers

/// The running config, swapped whole at runtime by the admin endpoints.
///
/// Readers take a copy under the lock (a few reference-count bumps) and work on it without the
/// lock, so a config change never waits for a slow request and vice versa.
final class ConfigStore: Sendable {
    private let box: NIOLockedValueBox<MockConfig>

    init(_ config: MockConfig) {
        self.box = NIOLockedValueBox(config)
    }

    var current: MockConfig { box.withLockedValue { $0 } }

    func replace(with config: MockConfig) {
        box.withLockedValue { $0 = config }
    }

    func apply(_ patch: MockConfigPatch) -> MockConfig {
        box.withLockedValue { config in
            config.apply(patch)
            return config
        }
    }
}
