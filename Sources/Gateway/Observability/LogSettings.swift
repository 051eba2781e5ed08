import KeyPool
import Logging
import Synchronization

/// The logging settings every log handler reads at each call, so a config reload changes the
/// level and format of a running gateway (a `Logger` copied into a task keeps its handler, and
/// the handler asks here).
final class LogSettings: Sendable {
    struct Values: Sendable {
        var level: Logger.Level
        var format: LoggingConfig.Format
    }

    private let values: Mutex<Values>
    /// `--log-level` / `--log-format`: when given they win over the file, at start and on reload.
    let levelOverride: Logger.Level?
    let formatOverride: LoggingConfig.Format?

    init(_ config: LoggingConfig, levelOverride: Logger.Level? = nil, formatOverride: LoggingConfig.Format? = nil) {
        self.levelOverride = levelOverride
        self.formatOverride = formatOverride
        values = Mutex(Values(level: .info, format: .json))
        apply(config)
    }

    var current: Values { values.withLock { $0 } }

    /// Takes the level and format of a (re)loaded config.
    func apply(_ config: LoggingConfig) {
        let level = levelOverride ?? Logger.Level(rawValue: config.level) ?? .info
        let format = formatOverride ?? config.format
        values.withLock { $0 = Values(level: level, format: format) }
    }
}
