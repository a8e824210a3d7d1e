using System.Diagnostics;
using RunProc.Pixels;

var px = args.Length > 0 ? int.Parse(args[0]) : 2_162_688; var nf = args.Length > 1 ? int.Parse(args[1]) : 200;
var data = new ushort[(long)px * nf];
var rng = new Random(1);
for (long i = 0; i < data.LongLength; i++) data[i] = (ushort)(900 + rng.Next(200));
if (Environment.GetEnvironmentVariable("BW") == "1") { for (int r=0;r<5;r++){ var sw0=Stopwatch.StartNew(); var m = Bw.Read(data); sw0.Stop(); Console.WriteLine($"read {data.LongLength*2/sw0.Elapsed.TotalSeconds/1e9:F2} GB/s {m}"); } return; }
int reps = Math.Max(3, (int)(2_000_000_000L / data.LongLength));
foreach (var path in new[] { KernelPath.Avx2, KernelPath.Avx512 })
foreach (var th in new[] { 1 })
{
    for (int rep = 0; rep < 3; rep++)
    {
        var acc = new PixelStatusAccumulator(px, 1, 16000);
        var sw = Stopwatch.StartNew();
        for (int r = 0; r < reps; r++)
        PixelStatusKernel.Accumulate(acc, data, 0xFFFF, th, path);
        sw.Stop();
        Console.WriteLine($"{path} th={th}: {sw.Elapsed.TotalMilliseconds/reps:F1} ms  {data.LongLength * 2 *reps/ sw.Elapsed.TotalSeconds / 1e9:F2} GB/s");
    }
}

static unsafe class Bw {
  [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
  public static int Read(ushort[] data) { fixed (ushort* d = data) { var a=System.Runtime.Intrinsics.Vector256<ushort>.Zero; var b=a; var c=a; var e=a; long n=data.LongLength;
   for (long i=0;i+64<=n;i+=64) { a = System.Runtime.Intrinsics.X86.Avx2.Max(a, System.Runtime.Intrinsics.X86.Avx.LoadVector256(d+i)); b = System.Runtime.Intrinsics.X86.Avx2.Max(b, System.Runtime.Intrinsics.X86.Avx.LoadVector256(d+i+16)); c = System.Runtime.Intrinsics.X86.Avx2.Max(c, System.Runtime.Intrinsics.X86.Avx.LoadVector256(d+i+32)); e = System.Runtime.Intrinsics.X86.Avx2.Max(e, System.Runtime.Intrinsics.X86.Avx.LoadVector256(d+i+48)); }
   return a[0]+b[0]+c[0]+e[0]; } }
}
