import ImpulseConfig
import XCTest

@testable import SMTPServer

/// PROXY protocol headers (HAProxy's specification, versions 1 and 2) as a load balancer sends
/// them, and the ones that must be refused.
final class ProxyProtocolHeaderTests: XCTestCase {
    func v2(command: UInt8 = 0x21, family: UInt8, payload: [UInt8]) -> [UInt8] {
        ProxyProtocolHeader.signature + [command, family, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
            + payload
    }

    func testVersionOne() {
        let line = Array("PROXY TCP4 203.0.113.7 192.0.2.1 56324 25\r\nEHLO x\r\n".utf8)
        XCTAssertEqual(
            ProxyProtocolHeader.parse(line), .header(length: 43, client: (IPAddress("203.0.113.7")!, 56324)))
        XCTAssertEqual(
            ProxyProtocolHeader.parse(Array("PROXY TCP6 2001:db8::7 2001:db8::1 1 25\r\n".utf8)),
            .header(length: 41, client: (IPAddress("2001:db8::7")!, 1)))
        XCTAssertEqual(ProxyProtocolHeader.parse(Array("PROXY UNKNOWN\r\n".utf8)), .header(length: 15, client: nil))
        XCTAssertEqual(ProxyProtocolHeader.parse(Array("PROXY TCP4 203.0".utf8)), .incomplete)
        XCTAssertEqual(ProxyProtocolHeader.parse(Array("PRO".utf8)), .incomplete)
        XCTAssertEqual(ProxyProtocolHeader.parse(Array("EHLO x\r\n".utf8)), .invalid("no PROXY header"))
        for bad in [
            "PROXY TCP4 203.0.113.7 192.0.2.1 56324\r\n", "PROXY TCP4 2001:db8::7 192.0.2.1 1 25\r\n",
            "PROXY TCP4 203.0.113.7 192.0.2.1 65536 25\r\n", "PROXY TCP4 203.0.113.7 192.0.2.1 01 25\r\n",
            "PROXY TCP4 203.0.113.7 192.0.2.1 1 25\n"
        ] {
            guard case .invalid = ProxyProtocolHeader.parse(Array(bad.utf8)) else { return XCTFail(bad) }
        }
        let long = Array(("PROXY TCP4 " + String(repeating: "1", count: 120)).utf8)
        XCTAssertEqual(ProxyProtocolHeader.parse(long), .invalid("PROXY v1 header longer than 107 octets"))
    }

    func testVersionTwo() {
        let ipv4 = v2(family: 0x11, payload: [203, 0, 113, 7, 192, 0, 2, 1, 0xDC, 0x04, 0, 25])
        XCTAssertEqual(
            ProxyProtocolHeader.parse(ipv4 + Array("EHLO".utf8)),
            .header(length: 28, client: (IPAddress("203.0.113.7")!, 0xDC04)))
        XCTAssertEqual(ProxyProtocolHeader.parse(ipv4.prefix(20)), .incomplete)
        var ipv6Payload = [UInt8](repeating: 0, count: 36)
        ipv6Payload[0] = 0x20
        ipv6Payload[1] = 0x01
        ipv6Payload[2] = 0x0D
        ipv6Payload[3] = 0xB8
        ipv6Payload[15] = 7
        ipv6Payload[33] = 99
        XCTAssertEqual(
            ProxyProtocolHeader.parse(v2(family: 0x21, payload: ipv6Payload)),
            .header(length: 52, client: (IPAddress("2001:db8::7")!, 99)))
        XCTAssertEqual(
            ProxyProtocolHeader.parse(v2(command: 0x20, family: 0x00, payload: [])), .header(length: 16, client: nil),
            "LOCAL: the proxy's own connection")
        XCTAssertEqual(
            ProxyProtocolHeader.parse(v2(command: 0x31, family: 0x11, payload: [])),
            .invalid("unsupported PROXY v2 version or command"))
        XCTAssertEqual(
            ProxyProtocolHeader.parse(v2(family: 0x11, payload: [1, 2, 3])), .invalid("short PROXY v2 IPv4 addresses"))
        let oversized = ProxyProtocolHeader.signature + [0x21, 0x11, 0x08, 0x00]
        XCTAssertEqual(ProxyProtocolHeader.parse(oversized), .invalid("PROXY v2 header longer than 1024 octets"))
    }
}
