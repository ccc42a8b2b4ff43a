import ImpulseConfig
import SharedThrottles
import XCTest

/// Named throttles on this process's clocks: N at once, then one per interval; `count` always
/// counts but holds the throttle at most one interval past its quota; `peek` counts nothing.
final class NamedThrottlesTests: XCTestCase {
    let rate = ThrottleRate(count: 3, seconds: 3) // 3 at once, then one a second

    func testTakeGrantsTheQuotaThenAnswersTheWait() {
        let throttles = NamedThrottles(capacity: 10, store: nil)
        let now: Int64 = 100_000_000
        for _ in 0..<3 { XCTAssertEqual(throttles.perform(.take, name: "ip", rate: rate, now: now), 0) }
        XCTAssertEqual(throttles.perform(.take, name: "ip", rate: rate, now: now), 1_000_000)
        // A refused take counts nothing: a second later one more goes.
        XCTAssertEqual(throttles.perform(.take, name: "ip", rate: rate, now: now + 1_000_000), 0)
        XCTAssertEqual(throttles.perform(.take, name: "ip", rate: rate, now: now + 1_000_000), 1_000_000)
        // Another name is another clock.
        XCTAssertEqual(throttles.perform(.take, name: "other", rate: rate, now: now), 0)
    }

    func testCountAlwaysCountsButHoldsOnlyOneIntervalPastTheQuota() {
        let throttles = NamedThrottles(capacity: 10, store: nil)
        let now: Int64 = 100_000_000
        XCTAssertEqual(throttles.perform(.peek, name: "f", rate: rate, now: now), 0)
        for _ in 0..<3 { XCTAssertEqual(throttles.perform(.count, name: "f", rate: rate, now: now), 0) }
        XCTAssertEqual(throttles.perform(.peek, name: "f", rate: rate, now: now), 1_000_000)
        // A flood of 100 more, all counted: the throttle is over its quota, but not for 100 s.
        for _ in 0..<100 { _ = throttles.perform(.count, name: "f", rate: rate, now: now) }
        XCTAssertEqual(throttles.perform(.peek, name: "f", rate: rate, now: now), 1_000_000)
        XCTAssertEqual(throttles.perform(.peek, name: "f", rate: rate, now: now + 1_000_000), 0)
        // Peeking counted nothing.
        XCTAssertEqual(throttles.perform(.peek, name: "f", rate: rate, now: now + 1_000_000), 0)
    }

    func testAZeroRateNeverHolds() {
        let throttles = NamedThrottles(capacity: 10, store: nil)
        for _ in 0..<10 {
            XCTAssertEqual(throttles.perform(.take, name: "z", rate: ThrottleRate(count: 0, seconds: 1), now: 1), 0)
        }
        XCTAssertEqual(throttles.count, 0)
    }

    func testTheClockUsedLongestAgoGoesPastCapacity() {
        let throttles = NamedThrottles(capacity: 2, store: nil)
        let one = ThrottleRate(count: 1, seconds: 60)
        XCTAssertEqual(throttles.perform(.take, name: "a", rate: one, now: 1_000), 0)
        XCTAssertEqual(throttles.perform(.take, name: "b", rate: one, now: 2_000), 0)
        XCTAssertGreaterThan(throttles.perform(.take, name: "a", rate: one, now: 3_000), 0) // a: used at 3000
        XCTAssertEqual(throttles.perform(.take, name: "c", rate: one, now: 4_000), 0) // b goes
        XCTAssertEqual(throttles.count, 2)
        XCTAssertGreaterThan(throttles.perform(.take, name: "a", rate: one, now: 5_000), 0)
        XCTAssertEqual(throttles.perform(.take, name: "b", rate: one, now: 6_000), 0, "b was forgotten")
    }
}
