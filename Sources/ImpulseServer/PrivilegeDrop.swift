import Foundation
import ImpulseConfig

#if canImport(Glibc)
    import Glibc
#endif

/// Momentum's `user` and `group`: started as root, Impulse binds its listening sockets (ports
/// 25, 465, 587 need root), hands its spool, log files and control sockets to the user, then
/// gives up root for good — before it accepts mail or loads a script. As root without `user` it
/// refuses to start unless told to (`--allow-root`). docs/operations.md.
struct PrivilegeDrop: Sendable {
    let user: String
    let uid: uid_t
    let gid: gid_t

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// What to become, from the configuration; nil when nothing changes (not root, or root
    /// allowed without a `user`).
    static func plan(_ configuration: ImpulseConfiguration, allowRoot: Bool) throws -> PrivilegeDrop? {
        guard geteuid() == 0 else { return nil }
        guard let user = configuration.user else {
            if allowRoot { return nil }
            throw Failure(
                description: """
                    refusing to run as root: set user (and group) in the configuration, so Impulse gives up root \
                    once its ports are bound, or pass --allow-root
                    """)
        }
        guard let account = lookupUser(user) else { throw Failure(description: "user '\(user)': no such user") }
        var gid = account.gid
        if let group = configuration.group {
            guard let found = lookupGroup(group) else { throw Failure(description: "group '\(group)': no such group") }
            gid = found
        }
        guard account.uid != 0 else {
            throw Failure(description: "user '\(user)' is root: name an unprivileged user (or drop the option)")
        }
        return PrivilegeDrop(user: account.name, uid: account.uid, gid: gid)
    }

    /// Hands `path` (and, for a directory, everything in it) to the user.
    func hand(_ path: String, recursive: Bool) throws {
        guard chown(path, uid, gid) == 0 else {
            throw Failure(description: "cannot give \(path) to \(user): \(String(cString: strerror(errno)))")
        }
        guard recursive, let enumerator = FileManager.default.enumerator(atPath: path) else { return }
        while let name = enumerator.nextObject() as? String {
            let child = path + "/" + name
            guard lchown(child, uid, gid) == 0 else {
                throw Failure(description: "cannot give \(child) to \(user): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Gives up root: the user's groups, then its group, then the user; and checks that root
    /// cannot be had back.
    func apply() throws {
        let groupsDone = user.withCString { initgroups($0, gid) } == 0
        guard groupsDone, setgid(gid) == 0, setuid(uid) == 0 else {
            throw Failure(description: "cannot become \(user): \(String(cString: strerror(errno)))")
        }
        guard getuid() == uid, geteuid() == uid, getgid() == gid, setuid(0) != 0 else {
            throw Failure(description: "root privileges could not be given up completely")
        }
    }

    static func lookupUser(_ name: String) -> (name: String, uid: uid_t, gid: gid_t)? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        if let number = uid_t(name) {
            guard getpwuid_r(number, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        } else {
            guard getpwnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        }
        return (String(cString: entry.pw_name), entry.pw_uid, entry.pw_gid)
    }

    static func lookupGroup(_ name: String) -> gid_t? {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        if let number = gid_t(name) {
            guard getgrgid_r(number, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        } else {
            guard getgrnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        }
        return entry.gr_gid
    }
}
