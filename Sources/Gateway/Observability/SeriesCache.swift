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
    /// The `model` label's position and the budget its values are admitted under.
    private let modelLabel: (index: Int, budget: LabelBudget)?

    init(_ labelNames: [String], models: LabelBudget? = nil, make: @escaping @Sendable ([(String, String)]) -> Metric) {
        self.labelNames = labelNames
        self.make = make
        self.modelLabel = models.flatMap { budget in labelNames.firstIndex(of: "model").map { ($0, budget) } }
    }

    /// The series for these label values, in the order of the label names.
    func callAsFunction(_ values: String...) -> Metric {
        precondition(values.count == labelNames.count, "one value per label")
        if let known = made.withLock({ $0[values] }) { return known }
        var values = values
        if let (index, budget) = modelLabel {
            // Only a series not made yet asks the budget: a request on a known series pays nothing.
            values[index] = budget.admit(values[index])
            if let known = made.withLock({ $0[values] }) { return known }
        }
        // Outside the lock: the registry takes its own. Two first calls racing get the same
        // handle from the registry, so either may be stored.
        let metric = make(Array(zip(labelNames, values)))
        made.withLock { $0[values] = metric }
        return metric
    }
}

/// The model names that get series of their own. A name matched by a glob (`gpt-*`, `*/*`) is
/// the client's string, so without a bound an access key could make series, each kept for the
/// process's life, without end; past `limit` names, new ones are counted as `model="other"`.
final class LabelBudget: Sendable {
    static let other = "other"
    let limit: Int
    private let admitted = Mutex(Set<String>())

    init(limit: Int) { self.limit = limit }

    /// `value` when it has, or still gets, a series of its own; else `other`.
    func admit(_ value: String) -> String {
        admitted.withLock { admitted in
            if admitted.contains(value) { return value }
            guard admitted.count < limit else { return Self.other }
            admitted.insert(value)
            return value
        }
    }
}
