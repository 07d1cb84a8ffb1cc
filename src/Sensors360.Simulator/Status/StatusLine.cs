namespace Sensors360.Simulator.Status;

/// <summary>
/// The live status of a run: on a terminal one line redrawn in place every second; when the output is
/// redirected (a file, a pipe, CI) a plain line every few seconds. Lines written through
/// <see cref="WriteLine"/> go above the status and stay.
/// </summary>
internal sealed class StatusLine(TextWriter output, bool inPlace)
{
    private const string ClearToEndOfLine = "\u001b[K";

    private readonly Lock _gate = new();
    private bool _shown;

    /// <summary>How often the status is worth showing.</summary>
    public TimeSpan Period { get; } = inPlace ? TimeSpan.FromSeconds(1) : TimeSpan.FromSeconds(5);

    /// <summary>For a run that writes to the console: in place unless the output is redirected.</summary>
    public static StatusLine ForConsole() => new(Console.Out, inPlace: !Console.IsOutputRedirected);

    public void Show(string status)
    {
        lock (_gate)
        {
            if (inPlace)
            {
                output.Write("\r" + status + ClearToEndOfLine);
                _shown = true;
            }
            else
            {
                output.WriteLine(status);
            }

            output.Flush();
        }
    }

    public void WriteLine(string line)
    {
        lock (_gate)
        {
            if (_shown)
            {
                output.Write("\r" + ClearToEndOfLine);
                _shown = false;
            }

            output.WriteLine(line);
            output.Flush();
        }
    }

    /// <summary>Leaves the last status on its own line, so what follows starts on a new one.</summary>
    public void End()
    {
        lock (_gate)
        {
            if (_shown)
            {
                output.WriteLine();
                _shown = false;
            }
        }
    }
}
