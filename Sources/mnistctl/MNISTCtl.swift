import ArgumentParser
import ControlProtocol

@main
struct MNISTCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mnistctl",
        abstract: "Train, evaluate and run the mnistd digit classifier.",
        discussion: """
            Offline: train, eval, predict and samples work on files, without a daemon.

            Online: status, metrics, retrain, models, rollback, reload and classify talk to a running mnistd \
            over its control socket (--socket, before or after the command; default /run/mnistd/control.sock \
            when it exists, else ./var/mnistd.sock), one JSON object per line each way. Only root, the daemon's user and \
            members of its socket group are served. --json prints the daemon's reply as it is.
            """,
        version: mnistdVersion,
        subcommands: [Train.self, Eval.self, Predict.self, Samples.self, Status.self, Metrics.self, Retrain.self, Models.self, Rollback.self, Reload.self, Classify.self]
    )

    /// The daemon commands' shared options work before the command too (`mnistctl --socket
    /// PATH status`), as `git -C` or `systemctl --user` do: they are moved behind it.
    static func main() {
        main(movingSharedOptionsBehindTheCommand(Array(CommandLine.arguments.dropFirst())))
    }

    static func movingSharedOptionsBehindTheCommand(_ arguments: [String]) -> [String] {
        var leading: [String] = [], rest = arguments[...]
        while let first = rest.first {
            if first == "--json" || first.hasPrefix("--socket=") {
                leading.append(first)
                rest = rest.dropFirst()
            } else if first == "--socket", rest.count >= 2 {
                leading += rest.prefix(2)
                rest = rest.dropFirst(2)
            } else {
                break
            }
        }
        guard !leading.isEmpty, let command = rest.first, !command.hasPrefix("-") else { return arguments }
        return [command] + leading + rest.dropFirst()
    }
}
