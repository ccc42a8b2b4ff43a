/// A Lua value crossing the bridge. Tables stay in Lua; 64-bit integers cross as strings
/// (LuaJIT numbers are doubles; docs/architecture.md, "The Lua bridge").
public enum LuaValue: Equatable, Sendable, CustomStringConvertible {
    case `nil`
    case boolean(Bool)
    case number(Double)
    case string(String)
    /// A Lua string that is not valid UTF-8 (message content, file data): the octets as they are.
    case bytes([UInt8])
    /// A table, function, userdata or thread, known only by its type name.
    case other(String)

    public var description: String {
        switch self {
        case .nil: return "nil"
        case .boolean(let value): return String(value)
        case .number(let value):
            return value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        case .string(let value): return value
        case .bytes(let octets): return String(decoding: octets, as: UTF8.self)
        case .other(let type): return "<\(type)>"
        }
    }
}

extension LuaValue {
    /// The value as a whole number when it is a finite number inside `range` (fractions are
    /// truncated); nil for NaN, ±infinity, values outside the range and other types. Every number
    /// a script hands to Swift goes through this (or a finiteness check): `Int(Double.nan)` traps.
    public func integer(in range: ClosedRange<Int>) -> Int? {
        guard case .number(let value) = self, value.isFinite else { return nil }
        let truncated = value.rounded(.towardZero)
        guard truncated >= Double(range.lowerBound), truncated <= Double(range.upperBound) else { return nil }
        return Int(truncated)
    }

    /// The value when it is a finite number; nil for NaN, ±infinity and other types.
    public var finiteNumber: Double? {
        guard case .number(let value) = self, value.isFinite else { return nil }
        return value
    }

    /// The octets of a string value (text or not); nil for other types.
    public var octets: [UInt8]? {
        switch self {
        case .string(let text): return Array(text.utf8)
        case .bytes(let octets): return octets
        default: return nil
        }
    }
}

/// A Lua error: a syntax error while loading, or a runtime error with its traceback.
public struct LuaError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case syntax, runtime, memory, other }
    public var kind: Kind
    public var message: String
    public var description: String { message }

    public init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }
}

/// A Lua value kept alive in the registry of the state that made it (see `LuaState.reference`).
public struct LuaReference: Sendable, Equatable {
    let value: Int32
}
