using System.Runtime.InteropServices;
using System.Text;
using RunProc.Pixels;

// runproc-pixel <Invoke-PixelStatus|Merge-PixelStatus> [-Parameter value | -Switch]...
// The cmdlet's arguments, outputs, error messages and exit codes (0, 1 an error was written, 2 usage);
// TERM or Ctrl+C stops the analysis (nothing half-written is deployed) and exits 143 / 130.
using var cancel = new CancellationTokenSource();
var signal = 0;
void Stop(PosixSignalContext c, int code)
{
    c.Cancel = true;
    signal = code;
    cancel.Cancel();
}
using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => Stop(c, 143));
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => Stop(c, 130));
using var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false));
var code = PixelJobEntry.Run(args, stdout, Console.Error, cancel.Token);
stdout.Flush();
return signal != 0 ? signal : code;
