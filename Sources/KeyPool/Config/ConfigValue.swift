import Foundation

/// A JSON value with its kind made explicit.
///
/// `JSONSerialization` hands back `NSNumber` for numbers and booleans alike (`true as? Int`
/// succeeds), so the kind is settled once here, where the Foundation quirks live, and the
/// validators below match on plain Swift cases.
enum ConfigValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int)
    case double(Double)
    case string(String)
    case array([ConfigValue])
    case object([String: ConfigValue])

    init(json: Any) {
        switch json {
        case let string as String:
            self = .string(string)
        case let array as [Any]:
            self = .array(array.map(ConfigValue.init(json:)))
        case let object as [String: Any]:
            self = .object(object.mapValues(ConfigValue.init(json:)))
        case let number as NSNumber:
            self = ConfigValue(number: number)
        default:
            self = .null
        }
    }

    private init(number: NSNumber) {
        // Booleans are the `c` (char) type on Darwin and in swift-corelibs-foundation alike;
        // JSONSerialization never produces a char for a number.
        switch String(cString: number.objCType) {
        case "c", "B":
            self = .bool(number.boolValue)
        case "d", "f":
            self = .double(number.doubleValue)
        case "Q", "L", "I", "S", "C":
            // Unsigned: may be above Int.max, which no limit needs; keep it as a too-large double.
            let value = number.uint64Value
            self = value <= UInt64(Int.max) ? .integer(Int(value)) : .double(Double(value))
        default:
            self = .integer(number.intValue)
        }
    }

    /// The value as an Int when it is a whole number (`15` or `15.0`), else nil. Booleans are not numbers.
    var integerValue: Int? {
        switch self {
        case .integer(let value): return value
        case .double(let value): return value.rounded() == value && abs(value) < 9e15 ? Int(value) : nil
        default: return nil
        }
    }

    /// The value as a Double when it is a number. Booleans are not numbers.
    var numberValue: Double? {
        switch self {
        case .integer(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    var isNull: Bool { self == .null }
}
