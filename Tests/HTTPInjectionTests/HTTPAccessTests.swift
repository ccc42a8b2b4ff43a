import ImpulseConfig
import SMTPServer
import XCTest

@testable import HTTPInjection

final class HTTPAccessTests: XCTestCase {
    func testAnonymousInjectionOnlyFromLoopbackAndOnlyWithoutAuthentication() {
        let open = HTTPAccess(settings: HTTPListenerSettings())
        XCTAssertTrue(open.mayInjectAnonymously(from: "127.0.0.1"))
        XCTAssertTrue(open.mayInjectAnonymously(from: "::1"))
        XCTAssertFalse(open.mayInjectAnonymously(from: "192.0.2.10"))
        XCTAssertFalse(open.mayInjectAnonymously(from: "2001:db8::1"))
        XCTAssertFalse(open.mayInjectAnonymously(from: nil))
        var settings = HTTPListenerSettings()
        settings.enableAuthentication = true
        XCTAssertFalse(HTTPAccess(settings: settings).mayInjectAnonymously(from: "127.0.0.1"))
    }

    func testRateAllowsABurstThenSpacesRequests() {
        var settings = HTTPListenerSettings()
        settings.requestRate = ThrottleRate(count: 4, seconds: 2)
        let access = HTTPAccess(settings: settings)
        let admitted = (0..<10).filter { _ in access.admit(now: 100) }.count
        XCTAssertEqual(admitted, 4)
        XCTAssertFalse(access.admit(now: 100.1))
        XCTAssertTrue(access.admit(now: 100.6)) // one every half second
        XCTAssertFalse(access.admit(now: 100.6))
    }

    func testMalformedCredentialsAreRefused() {
        let access = HTTPAccess(settings: HTTPListenerSettings())
        XCTAssertEqual(access.identify(authorization: nil), .anonymous)
        XCTAssertEqual(access.identify(authorization: "Basic"), .refused)
        XCTAssertEqual(access.identify(authorization: "Basic !!!"), .refused)
        XCTAssertEqual(access.identify(authorization: "Bearer x"), .refused) // no tokens configured
        XCTAssertEqual(access.identify(authorization: "Digest x"), .refused)
    }
}

final class AuthFailureCountTests: XCTestCase {
    /// What the HTTP API's lock-out reads: failures within the window, forgotten after it or on a success.
    func testRecentFailuresAgeOutAndResetOnSuccess() throws {
        let tracker = AuthFailureTracker()
        let client = try XCTUnwrap(IPAddress("192.0.2.1"))
        XCTAssertEqual(tracker.failed(client, now: 100), 0)
        XCTAssertEqual(tracker.failed(client, now: 101), 1)
        XCTAssertEqual(tracker.failed(client, now: 102), 2)
        XCTAssertEqual(tracker.recentFailures(client, now: 103), 3)
        XCTAssertEqual(tracker.recentFailures(client, now: 102 + AuthFailureTracker.window), 0)
        tracker.succeeded(client)
        XCTAssertEqual(tracker.recentFailures(client, now: 103), 0)
        XCTAssertEqual(tracker.recentFailures(try XCTUnwrap(IPAddress("192.0.2.2")), now: 103), 0)
    }
}
