/// A problem with what the user gave us (a file, a flag, a net). The command line prints
/// `message` as one line and exits with code 2. `message` must name the file and line, or the
/// layer, that is at fault.
public struct InputError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A note worth showing the user that does not stop the run (e.g. `solver_mode: GPU`).
public struct Notice: Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
