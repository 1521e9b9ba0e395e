/// The big-endian 32-bit number at `offset`, as IDX dimensions and PNG chunk lengths, types and
/// header fields are stored.
func bigEndian32(_ bytes: [UInt8], at offset: Int) -> Int {
    Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
}
