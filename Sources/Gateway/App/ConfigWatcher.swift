import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Notices edits of config.json and hands them to `ConfigReloader`, on a thread of its own (the
/// reload reads a file: blocking I/O that must stay off the event loops and the cooperative pool).
///
/// The file's *directory* is watched with inotify, not the file's inode, so every way of
/// replacing the file is seen: editors that write a new file and rename it over the old one,
/// Kubernetes ConfigMap updates (the `..data` symlink swapped to a new directory), `cp`, `>`.
/// Events are coalesced for `settle` seconds, so a save that takes several writes is read once;
/// events of other files in the directory are ignored (`InotifyEvents`).
/// Where inotify is unavailable, and as a safety net for changes it cannot see (a bind mount
/// replaced from outside, a network file system), the file is also polled every `pollInterval`;
/// a poll costs one read and one hash of a small file. SIGHUP (`requestReload`) forces a reload.
final class ConfigWatcher: @unchecked Sendable {
    // @unchecked Sendable: the descriptors are written once in `init` and only read afterwards
    // (the thread closes its own at exit); `start` is called once, before anything else.
    private let reloader: ConfigReloader
    private let logger: Logger
    private let pollInterval: Double
    private let settle: Double
    private let inotifyFD: Int32
    /// The wake-up pipe: `r` forces a reload, `q` stops the thread.
    private let wakeRead: Int32
    private let wakeWrite: Int32
    /// The config's file name: inotify events of other names in its directory are ignored.
    private let fileName: String

    init(reloader: ConfigReloader, logger: Logger, pollInterval: Double = 2, settle: Double = 0.1) {
        self.reloader = reloader
        self.logger = logger
        self.pollInterval = pollInterval
        self.settle = settle
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
        }
        (wakeRead, wakeWrite) = (fds[0], fds[1])
        let directory = URL(fileURLWithPath: reloader.path).deletingLastPathComponent().path
        fileName = URL(fileURLWithPath: reloader.path).lastPathComponent
        let fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        if fd >= 0 {
            let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_MODIFY)
            if inotify_add_watch(fd, directory, mask) < 0 {
                logger.warning("config watch: inotify cannot watch \(directory) (errno \(errno)); polling every \(pollInterval) s")
                close(fd)
                inotifyFD = -1
            } else {
                inotifyFD = fd
            }
        } else {
            logger.warning("config watch: inotify unavailable (errno \(errno)); polling every \(pollInterval) s")
            inotifyFD = -1
        }
    }

    func start() {
        let thread = Thread { [self] in
            run()
            if inotifyFD >= 0 { close(inotifyFD) }
            close(wakeRead)
        }
        thread.name = "config-watcher"
        thread.start()
        logger.info("config watch: \(reloader.path)\(inotifyFD >= 0 ? " (inotify on its directory, and polled)" : " (polled)")")
    }

    /// SIGHUP: reload now, even if the file looks unchanged. Async-signal-safe enough to call
    /// from a signal source: one write to a pipe.
    func requestReload() { wake(UInt8(ascii: "r")) }

    /// Asks the thread to end (after a reload in progress, if any); does not wait, so it can be
    /// called from async code.
    func stop() { wake(UInt8(ascii: "q")) }

    private func wake(_ byte: UInt8) {
        var value = byte
        _ = write(wakeWrite, &value, 1)
    }

    private func run() {
        var descriptors = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
        if inotifyFD >= 0 { descriptors.append(pollfd(fd: inotifyFD, events: Int16(POLLIN), revents: 0)) }
        var nextPoll = Date().addingTimeInterval(pollInterval)
        while true {
            let timeout = max(0, Int32(nextPoll.timeIntervalSinceNow * 1000))
            for index in descriptors.indices { descriptors[index].revents = 0 }
            let ready = poll(&descriptors, nfds_t(descriptors.count), timeout)
            if ready < 0, errno != EINTR { return }
            var force = false
            if descriptors[0].revents & Int16(POLLIN) != 0 {
                let bytes = drain(wakeRead)
                if bytes.contains(UInt8(ascii: "q")) { return }
                force = bytes.contains(UInt8(ascii: "r"))
            }
            var changed = false
            if descriptors.count > 1, descriptors[1].revents & Int16(POLLIN) != 0 {
                // Coalesce the burst of events one save makes, then read the file once; at most
                // for a second, so a busy neighbour in the same directory cannot delay a reload.
                // Events of other files in the directory are read and dropped.
                let coalesceUntil = Date().addingTimeInterval(1)
                repeat {
                    if InotifyEvents.concern(drain(inotifyFD), fileName: fileName) { changed = true }
                } while Date() < coalesceUntil && waitReadable(inotifyFD, seconds: settle)
            }
            if force || changed || nextPoll.timeIntervalSinceNow <= 0 {
                if force { logger.notice("config reload requested (SIGHUP)") }
                reloader.reload(force: force)
                nextPoll = Date().addingTimeInterval(pollInterval)
            }
        }
    }

    /// Reads everything available from a non-blocking descriptor.
    private func drain(_ fd: Int32) -> [UInt8] {
        var all: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { return all }
            all += buffer[0..<count]
        }
    }

    private func waitReadable(_ fd: Int32, seconds: Double) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, Int32(seconds * 1000)) > 0
    }
}
