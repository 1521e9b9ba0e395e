#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Classification
import Daemon

/// `mnistd --check-config`, as `nginx -t` or `postfix check`: everything that would stop a
/// start, said at once, each problem naming where it was set.
enum ConfigurationCheck {
    /// Prints the verdict; the exit status: 0 when mnistd could start, 64 (as a start would) when not.
    static func run(commandLine: [String], file: ConfigurationFile.Parsed?) -> Int32 {
        let found = problems(commandLine: commandLine, file: file)
        guard !found.isEmpty else {
            print("configuration OK")
            return 0
        }
        let text = Array(found.map { $0 + "\n" }.joined().utf8)
        _ = text.withUnsafeBytes { Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
        return 64
    }

    /// The file's own mistakes, then bad values (with the file:line of the key that set them,
    /// unless the command line set them too), then a weights file that does not load.
    static func problems(commandLine: [String], file: ConfigurationFile.Parsed?) -> [String] {
        var found = (file?.problems ?? []).map { "\($0)" }
        let places = file?.places ?? [:]
        func placed(_ message: String) -> String {
            guard let option = message.firstMatch(of: /--([a-z][a-z-]*)/).map({ String($0.output.1) }), let place = places[option],
                  !commandLine.contains(where: { $0 == "--\(option)" || $0.hasPrefix("--\(option)=") }) else { return message }
            return "\(place): " + message.split(separator: "--\(option)", omittingEmptySubsequences: false).joined(separator: option)
        }
        do {
            let command = try MNISTD.parse((file?.arguments ?? []) + commandLine)
            if let weights = command.weights {
                do { _ = try LoadedModel.load(path: weights) } catch { found.append(placed("--weights: \(error)")) }
            }
        } catch {
            found += MNISTD.message(for: error).split(separator: "\n").map { placed(String($0)) }
        }
        return found
    }
}
