import Synchronization

/// The handles of one labelled metric's series, by label values.
///
/// swift-prometheus' registry checks the name, the label names and the help text and takes its
/// lock at every `make…` call, which per request (six series) showed as 3.5 % of the gateway's
/// CPU at concurrency 64. Here a request pays one dictionary lookup per series; the registry is
/// asked once per label set. Label values are bounded (see `GatewayMetrics`), so is this.
final class SeriesCache<Metric: AnyObject & Sendable>: Sendable {
    private let labelNames: [String]
    private let make: @Sendable ([(String, String)]) -> Metric
    private let made = Mutex<[[String]: Metric]>([:])

    init(_ labelNames: [String], make: @escaping @Sendable ([(String, String)]) -> Metric) {
        self.labelNames = labelNames
        self.make = make
    }

    /// The series for these label values, in the order of the label names.
    func callAsFunction(_ values: String...) -> Metric {
        precondition(values.count == labelNames.count, "one value per label")
        if let known = made.withLock({ $0[values] }) { return known }
        // Outside the lock: the registry takes its own. Two first calls racing get the same
        // handle from the registry, so either may be stored.
        let metric = make(Array(zip(labelNames, values)))
        made.withLock { $0[values] = metric }
        return metric
    }
}
