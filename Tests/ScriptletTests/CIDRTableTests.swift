import ImpulseConfig
import XCTest

@testable import Scriptlet

/// msys.cidr's longest-prefix look-up against the plain rule (the most specific block holding
/// the address), on many overlapping random blocks of both families.
final class CIDRTableTests: XCTestCase {
    func testLookupsMatchTheMostSpecificBlock() {
        var generator = SystemRandomNumberGenerator()
        var entries: [(CIDRBlock, String)] = []
        for index in 0..<3000 {
            let text: String
            if index % 3 == 0 {
                text =
                    "2001:db8:\(String(Int.random(in: 0..<16, using: &generator), radix: 16))::/\(Int.random(in: 32...128, using: &generator))"
            } else {
                let octets = (0..<4).map { _ in String(Int.random(in: 0..<4, using: &generator)) }
                text = "10.\(octets[1]).\(octets[2]).\(octets[3])/\(Int.random(in: 8...32, using: &generator))"
            }
            if let block = CIDRBlock(text) { entries.append((block, "v\(index)")) }
        }
        let shared = SharedPolicyData()
        shared.defineCIDR("t", entries: entries, defaultValue: "none", source: nil)
        for _ in 0..<2000 {
            let text =
                Bool.random(using: &generator)
                ? "10.\(Int.random(in: 0..<4, using: &generator)).\(Int.random(in: 0..<4, using: &generator)).\(Int.random(in: 0..<4, using: &generator))"
                : "2001:db8:\(String(Int.random(in: 0..<16, using: &generator), radix: 16))::\(Int.random(in: 0..<3, using: &generator))"
            let address = IPAddress(text)!
            let holding = entries.filter { $0.0.contains(address) }
            let longest = holding.map(\.0.prefixLength).max()
            let expected = Set(holding.filter { $0.0.prefixLength == longest }.map(\.1))
            let found = shared.queryCIDR("t", address: address)!!
            if expected.isEmpty {
                XCTAssertEqual(found, "none", text)
            } else {
                XCTAssertTrue(expected.contains(found), "\(text): \(found) not in \(expected)")
            }
        }
    }
}
