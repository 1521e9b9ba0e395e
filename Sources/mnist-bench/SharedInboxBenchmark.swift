import Formats
import NeuralNet
import SystemResources
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Daemons sharing one inbox on a real GlusterFS volume (this host's mounts standing for hosts)
/// against one daemon on the local disk: 2,000 PNGs staged in the inbox, then the daemons
/// started, timed from their start to the last CSV. Needs root (glusterd, FUSE); the volume is
/// made with ../shared/tools/gluster-fixture.sh and removed afterwards.
func benchmarkSharedInbox(test: LabeledImages, under directory: String) {
    let count = 2000
    let pngs = (0..<count).map { index in
        (try? encodePNG(RasterImage(width: 28, height: 28, channels: 1, samples: Array(test.bytes[index * 784..<(index + 1) * 784])))) ?? []
    }
    print("\n== shared inbox: \(count) PNGs staged, then daemons started; start → last CSV ==")
    let local = "\(directory)/mnistd-shared-bench-\(getpid())"
    defer { _ = system("rm -rf '\(local)'") }
    print("local disk (\(directory)), 1 daemon:   \(Int(filesPerSecond(pngs, spools: ["\(local)/spool"], watching: "\(local)/spool", states: local))) files/s")
    let volume: GlusterVolume
    do {
        volume = try GlusterVolume()
    } catch {
        print("GlusterFS: not run (\(error))")
        return
    }
    for daemons in 1...2 {
        let spools = volume.daemonMounts.prefix(daemons).map { "\($0)/spool-\(daemons)" }
        let rate = filesPerSecond(pngs, spools: spools, watching: "\(volume.scannerMount)/spool-\(daemons)", states: local)
        print("GlusterFS replica 2, \(daemons) daemon\(daemons == 1 ? ": " : "s:")      \(Int(rate)) files/s")
    }
}

/// Stages the PNGs in the inbox of `watching` (hidden name, then rename), starts a daemon per
/// spool path (the same spool seen through different mounts; models and sockets under the
/// local `states`), and times them to the last CSV.
private func filesPerSecond(_ pngs: [[UInt8]], spools: [String], watching spool: String, states: String) -> Double {
    guard let executable = currentExecutablePath() else { fail("cannot find this executable") }
    let binary = String(executable[..<executable.lastIndex(of: "/")!]) + "/mnistd"
    for directory in ["inbox", "outbox"] { _ = system("mkdir -p '\(spool)/\(directory)'") }
    for (index, png) in pngs.enumerated() {
        writeWhole("\(spool)/inbox/.staged-\(index).tmp", png)
        guard rename("\(spool)/inbox/.staged-\(index).tmp", "\(spool)/inbox/digit-\(index).png") == 0 else { fail("cannot stage \(spool)") }
    }
    let started = monotonicMicroseconds()
    let pids = spools.enumerated().map { index, shared in
        let state = "\(states)/state-\(index)"
        _ = system("rm -rf '\(state)' && mkdir -p '\(state)'")
        return startDaemon(binary, root: state, arguments: ["--inbox", "\(shared)/inbox", "--outbox", "\(shared)/outbox",
                                                            "--failed", "\(shared)/failed", "--processed", "\(shared)/processed",
                                                            "--instance", "bench\(index)"])
    }
    while ((try? directoryEntries("\(spool)/outbox"))?.count ?? 0) < pngs.count { usleep(50_000) }
    let seconds = Double(monotonicMicroseconds() - started) / 1e6
    for pid in pids {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
    return Double(pngs.count) / seconds
}
