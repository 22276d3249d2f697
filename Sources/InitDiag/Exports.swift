// `import InitDiag` gives a client (the command line, another tool) every stage's public API.
@_exported import InitDiagCore
@_exported import InitDiagTrace
@_exported import InitDiagEngine
@_exported import InitDiagDiagnosis
