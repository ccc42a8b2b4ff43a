#if canImport(Glibc)
    import Glibc
#endif

/// One libFuzzer input: the octets and their count; returns 0.
public typealias FuzzTarget = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

#if IMPULSE_FUZZ
    /// libFuzzer's entry point for programs with their own main (LLVM's libFuzzer documentation,
    /// "Using libFuzzer as a library").
    // swift-format-ignore: AlwaysUseLowerCamelCase
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: FuzzTarget
    ) -> CInt

    /// The target `runFuzzer` was given; set once, before libFuzzer starts.
    nonisolated(unsafe) var currentTarget: FuzzTarget?

    /// libFuzzer's runtime refers to this symbol even when the driver is started explicitly.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        currentTarget?(data, size) ?? 0
    }
#endif

/// Runs libFuzzer on `target` with the process's arguments (corpus directories, -max_total_time
/// …). Only a build made by scripts/fuzz.sh (-sanitize=fuzzer, IMPULSE_FUZZ) can fuzz; an
/// ordinary build of a fuzz target says so and exits.
public func runFuzzer(_ target: FuzzTarget) -> Never {
    #if IMPULSE_FUZZ
        currentTarget = target
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, target))
    #else
        print("this fuzz target runs only when built by scripts/fuzz.sh (-sanitize=fuzzer)")
        exit(2)
    #endif
}

/// The input as a buffer (libFuzzer may pass a null pointer for the empty input).
public func fuzzInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> UnsafeBufferPointer<UInt8> {
    UnsafeBufferPointer(start: size > 0 ? data : nil, count: data == nil ? 0 : size)
}
