import Foundation

/// The repository root, from this file's path.
public let repositoryRoot: String = {
    var root = #filePath
    for _ in 0..<3 { root = (root as NSString).deletingLastPathComponent }
    return root
}()

/// A built product: the binaries sit next to the test bundle in the build directory.
public func builtBinary(_ name: String) -> String {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
    return (exe as NSString).deletingLastPathComponent + "/" + name
}

public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs a command to its end (a real tool: cp, mv, rsync, journalctl, or our own binaries).
/// Both pipes are drained at once, so a chatty stderr cannot stall the child.
@discardableResult
public func runCommand(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    nonisolated(unsafe) var stderr = Data()
    let done = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
        stderr = err.fileHandleForReading.readDataToEndOfFile()
        done.signal()
    }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    done.wait()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: stderr, as: UTF8.self))
}

/// Runs a shell script to its end with its output in `logFile`, waiting for it with waitpid
/// alone: for scripts that leave daemons behind (FUSE clients, glusterd), which Foundation's
/// Process was seen never to notice the end of. Returns the exit status.
public func runScript(_ script: String, arguments: [String] = [], logFile: String, environment: [String: String] = [:]) -> Int32 {
    let command = ["/bin/bash", "-c", script + " > '\(logFile)' 2>&1 < /dev/null", "bash"] + arguments
    let variables = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0)=\($1)" }
    var cArguments = command.map { strdup($0) } + [nil]
    var cEnvironment = variables.map { strdup($0) } + [nil]
    defer { (cArguments + cEnvironment).forEach { free($0) } }
    var pid: pid_t = 0
    guard posix_spawn(&pid, "/bin/bash", nil, nil, &cArguments, &cEnvironment) == 0 else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
}
