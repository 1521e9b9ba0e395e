import Formats
import NeuralNet
#if canImport(Glibc)
import Glibc
#endif

struct BenchOptions {
    var data = "../shared/datasets/mnist"
    var python = "/tmp/torch-ref/bin/python"
    var reference = "../shared/reference"
    var sections: Set<String> = ["gemm", "seed", "cnn", "inference", "daemon"]
    /// Where the daemon benchmark keeps its state: a disk (the default) or a tmpfs.
    var daemonDirectory = "/tmp"

    init(arguments: [String]) {
        var rest = arguments[...]
        while let flag = rest.popFirst() {
            guard let value = rest.popFirst() else { fail("\(flag) needs a value") }
            switch flag {
            case "--data": data = value
            case "--python": python = value
            case "--reference": reference = value
            case "--sections": sections = Set(value.split(separator: ",").map(String.init))
            case "--daemon-dir": daemonDirectory = value
            default: fail("unknown option \(flag) (known: --data, --python, --reference, --sections gemm,seed,cnn,inference,robustness,daemon,load,metrics,shared, --daemon-dir DIR)")
            }
        }
    }
}

func fail(_ message: String) -> Never {
    var bytes = Array("mnist-bench: \(message)\n".utf8)
    _ = bytes.withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    exit(2)
}

func seconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func padded(_ text: String, _ width: Int) -> String {
    text + String(repeating: " ", count: max(0, width - text.count))
}

/// Runs the PyTorch programs and picks `key=value` figures out of their last line.
struct ReferenceRunner {
    let python: String
    let directory: String
    let data: String

    var unavailableReason: String? {
        guard access(python, X_OK) == 0 else { return "\(python) not found; see ../shared/reference/README.md" }
        guard access("\(directory)/seed_torch.py", R_OK) == 0 else { return "\(directory)/seed_torch.py not found" }
        return nil
    }

    /// Runs `script` with the environment given; returns the key=value pairs of each output line.
    func run(_ script: String, environment: [String: String]) -> [[String: String]] {
        guard unavailableReason == nil else { return [] }
        let assignments = environment.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let command = "env \(assignments) \(python) \(directory)/\(script) \(data) 2>/dev/null"
        guard let pipe = popen(command, "r") else { return [] }
        var output = ""
        var buffer = [CChar](repeating: 0, count: 4096)
        while fgets(&buffer, Int32(buffer.count), pipe) != nil {
            output += String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        pclose(pipe)
        return output.split(separator: "\n").map { line in
            var figures: [String: String] = [:]
            for word in line.split(separator: " ") {
                let parts = word.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { figures[String(parts[0])] = String(parts[1]) }
            }
            return figures
        }
    }
}

/// A share as a whole percentage: "86%".
func percentage(_ share: Double) -> String { "\(Int((share * 100).rounded()))%" }
