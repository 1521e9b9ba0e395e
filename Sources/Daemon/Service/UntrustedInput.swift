/// Everything the daemon does with bytes that come from outside, in one call: the input
/// decoder (PNG through libpng and normalisation, IDX plain and gzip), the control request
/// parser and the configuration-file parser. The fuzzer drives it, and the tests replay its
/// corpus through it: any crash, hang or runaway allocation here is a bug.
public enum UntrustedInput {
    static let decoder = InputDecoder(limits: InputLimits(maxFileBytes: 1 << 20, maxPNGPixels: 4_000_000, maxIDXImages: 1000))

    public static func exercise(_ bytes: [UInt8]) {
        for name in ["input.png", "input-idx3-ubyte.gz", "input"] {
            _ = try? decoder.decode(bytes: bytes, name: name)
        }
        _ = try? ControlCoding.decode(ControlRequest.self, from: bytes)
        _ = try? ConfigurationFile.arguments(fromText: String(decoding: bytes, as: UTF8.self), source: "input",
                                             options: ["state-dir", "socket"], flags: ["delete-processed"])
    }
}
