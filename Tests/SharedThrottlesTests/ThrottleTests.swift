import ImpulseConfig
import SharedThrottles
import XCTest

/// The GCRA throttle: events evenly spaced at the rate, a burst allowance for high rates.
final class ThrottleTests: XCTestCase {
    func testEventsAreSpacedByTheRatesInterval() {
        var throttle = Throttle(ThrottleRate(count: 10, seconds: 1))
        var now: Int64 = 5_000_000
        XCTAssertEqual(throttle.wait(now: now), 0)
        throttle.take(now: now)
        XCTAssertEqual(throttle.wait(now: now), 100_000, "the next of ten a second is due in 0.1 s")
        now += 40_000
        XCTAssertEqual(throttle.wait(now: now), 60_000)
        now += 60_000
        XCTAssertEqual(throttle.wait(now: now), 0)
        throttle.take(now: now)
        // A quiet spell does not bank permits beyond the burst (one, at ten a second).
        now += 10_000_000
        throttle.take(now: now)
        XCTAssertEqual(throttle.wait(now: now), 100_000)
        XCTAssertEqual(throttle.taken, 3)
    }

    func testHighRatesMayBurstATenthOfASecondsWorth() {
        var throttle = Throttle(ThrottleRate(count: 1000, seconds: 1))
        let now: Int64 = 1_000_000
        var sent = 0
        while throttle.wait(now: now) == 0 {
            throttle.take(now: now)
            sent += 1
        }
        XCTAssertEqual(sent, 100)
        XCTAssertEqual(throttle.wait(now: now), 1_000, "then one a millisecond")
    }

    func testSlowRatesSpreadOverTheirPeriod() {
        var throttle = Throttle(ThrottleRate(count: 100, seconds: 3600))
        throttle.take(now: 0)
        XCTAssertEqual(throttle.wait(now: 0), 36_000_000, "100 an hour: one every 36 s")
    }
}
