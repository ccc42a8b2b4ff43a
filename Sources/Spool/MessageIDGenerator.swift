import Foundation
import Synchronization

/// Makes spool message ids: 13 hex digits of the reception time in microseconds, a dash, and 8
/// hex digits of a per-process counter that starts at a random value. Ids sort by time, are
/// unique across restarts and threads, and are safe as file names.
public final class MessageIDGenerator: Sendable {
    private let counter: Atomic<UInt32>

    public init() {
        counter = Atomic(UInt32.random(in: 0...UInt32.max))
    }

    public func next(now: Date = Date()) -> String {
        let micros = UInt64(max(0, now.timeIntervalSince1970 * 1_000_000))
        let sequence = counter.wrappingAdd(1, ordering: .relaxed).oldValue
        return Self.hex(micros, digits: 13) + "-" + Self.hex(UInt64(sequence), digits: 8)
    }

    static func hex(_ value: UInt64, digits: Int) -> String {
        let alphabet = Array("0123456789ABCDEF".utf8)
        var bytes = [UInt8](repeating: UInt8(ascii: "0"), count: digits)
        var remaining = value
        for index in stride(from: digits - 1, through: 0, by: -1) {
            bytes[index] = alphabet[Int(remaining & 0xF)]
            remaining >>= 4
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
