import Foundation
import LuaBridge
import XCTest

@testable import Scriptlet

/// docs/lua/compatibility.md against what a policy state has: each name's status holds, every
/// function and object method Impulse registers is listed, and the fired hooks are the ones the
/// page names.
final class CompatibilityTableTests: XCTestCase {
    static let page = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/lua/compatibility.md").path

    /// The table rows: name (between backticks) and status.
    static func rows() throws -> [(name: String, status: String)] {
        let text = try String(contentsOfFile: page, encoding: .utf8)
        return text.split(separator: "\n").compactMap { line in
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard cells.count >= 4, cells[1].hasPrefix("`"), cells[1].hasSuffix("`") else { return nil }
            return (String(cells[1].dropFirst().dropLast()), cells[2])
        }
    }

    func testThePageMatchesWhatIsRegistered() throws {
        let rows = try Self.rows()
        XCTAssertGreaterThan(rows.count, 200)
        let statuses = Set(rows.map(\.status))
        XCTAssertTrue(
            statuses.isSubset(of: ["implemented", "partial", "Impulse", "not yet", "out of scope"]), "\(statuses)")
        let expectations = rows.map { row in
            "{ \(PolicyState.luaQuoted(row.name)), \(["implemented", "partial", "Impulse"].contains(row.status)) }"
        }.joined(separator: ",\n")
        let directory = NSTemporaryDirectory() + "compat-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let script = directory + "/compat_check.lua"
        try (Self.checker.replacingOccurrences(of: "%ROWS%", with: expectations)).write(
            toFile: script, atomically: true, encoding: .utf8)
        let policy = try PolicyState(scripts: [ScriptSource(name: "compat_check", path: script)])
        policy.openSession(1, connectionContext: [])
        policy.setMessage(
            1, Array("Subject: x\r\nFrom: <a@example.test>\r\n\r\nbody\r\n".utf8), messageID: "0000000000001-00000001")
        if case .failed(let failure) = policy.run(.data, session: 1, text: nil) {
            XCTFail("\(failure)")
        }
    }

    func testTheFiredHooksAreTheOnesThePageNames() throws {
        let text = try String(contentsOfFile: Self.page, encoding: .utf8)
        let section = try XCTUnwrap(text.range(of: "The hooks\nImpulse calls:\n\n")).upperBound
        let end = text.range(of: "\n\n", range: section..<text.endIndex)?.lowerBound ?? text.endIndex
        let listed = Set(
            text[section..<end].split(separator: "\n").compactMap { line -> String? in
                guard line.hasPrefix("- `") else { return nil }
                return String(line.dropFirst(3).dropLast())
            })
        XCTAssertEqual(listed, HookRegistry.fired)
    }

    /// Run in validate_data, where msg, vctx and ac are at hand.
    static let checker = """
        local rows = {
        %ROWS%
        }
        local function path(root, dotted)
          local value = root
          for part in string.gmatch(dotted, "[^%.]+") do
            if type(value) ~= "table" then return nil end
            value = value[part]
          end
          return value
        end
        local function resolve(name, objects)
          local package = string.match(name, '^require%("([^"]+)"%)$')
          if package then return (pcall(require, package)) or nil end
          local object, method = string.match(name, "^([%w_]+):([%w_]+)$")
          if object then
            local target = objects[object]
            return target and type(target[method]) == "function" or nil
          end
          local owner, field = string.match(name, "^(%a+)%.([%w_]+)$")
          if owner and objects[owner] then return objects[owner][field] end
          return path(_G, name)
        end
        local mod = {}
        function mod:validate_data(msg, ac, vctx)
          local objects = { msg = msg, vctx = vctx, ac = ac, client = msys.http.client.new(),
                            s = msys.core.string_new("x"), msgpart = msg:mime(true) }
          local wrong, listed = {}, {}
          for _, row in ipairs(rows) do
            listed[row[1]] = true
            local found = resolve(row[1], objects) ~= nil
            if found ~= row[2] then wrong[#wrong + 1] = row[1] .. (found and " is there" or " is missing") end
          end
          -- Every function Impulse registers is on the page.
          local function walk(t, prefix, depth, seen)
            if depth > 4 or seen[t] then return end
            seen[t] = true
            for key, value in pairs(t) do
              if type(key) == "string" then
                local name = prefix .. "." .. key
                if type(value) == "function" and not listed[name] then
                  wrong[#wrong + 1] = name .. " is not on the page"
                elseif type(value) == "table" then
                  walk(value, name, depth + 1, seen)
                end
              end
            end
          end
          for _, root in ipairs({ "msys", "json", "thread" }) do walk(_G[root], root, 1, {}) end
          for name, object in pairs({ msg = msg, vctx = vctx, ac = ac }) do
            local index = getmetatable(object).__index
            for key, value in pairs(index) do
              if type(value) == "function" and not listed[name .. ":" .. key] then
                wrong[#wrong + 1] = name .. ":" .. key .. " is not on the page"
              end
            end
          end
          table.sort(wrong)
          assert(#wrong == 0, table.concat(wrong, "; "))
          return msys.core.VALIDATE_CONT
        end
        msys.registerModule("compat_check", mod)
        """
}
