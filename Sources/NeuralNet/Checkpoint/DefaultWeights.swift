#if canImport(Glibc)
import Glibc
#endif

/// Where the weights shipped with mnistd are found, in order; the daemon and `mnistctl` share
/// this lookup so that both always agree on which model "the default" is.
public enum DefaultWeights {
    public static let fileName = "mnist-cnn.weights"

    /// Candidate paths: next to the running binary, in the prefix it was installed under, in
    /// the source tree it was built from, then the system-wide install locations.
    public static func candidates(executablePath: String? = currentExecutablePath()) -> [String] {
        var paths: [String] = []
        if let executablePath, let slash = executablePath.lastIndex(of: "/") {
            let directory = String(executablePath[..<slash])
            paths.append("\(directory)/\(fileName)")
            paths.append("\(directory)/../share/mnistd/\(fileName)")
        }
        paths.append(sourceTreeDirectory + fileName)
        paths.append("/usr/local/share/mnistd/\(fileName)")
        paths.append("/usr/share/mnistd/\(fileName)")
        return paths
    }

    /// The first candidate that exists, or nil.
    public static func locate() -> String? {
        candidates().first { access($0, R_OK) == 0 }
    }

    /// The committed weights in this source checkout (`Sources/NeuralNet/DefaultWeights/`).
    static var sourceTreeDirectory: String {
        let here = #filePath
        let checkpointDirectory = here[..<here.lastIndex(of: "/")!]
        let moduleDirectory = checkpointDirectory[..<checkpointDirectory.lastIndex(of: "/")!]
        return "\(moduleDirectory)/DefaultWeights/"
    }
}

/// The running binary, from /proc/self/exe.
public func currentExecutablePath() -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard length > 0 else { return nil }
    return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
