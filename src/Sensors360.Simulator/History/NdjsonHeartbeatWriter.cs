using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace Sensors360.Simulator.History;

/// <summary>
/// Writes heartbeats as the import takes them, one JSON object a line:
/// <c>{"sensor":"hist-00001","at":"2026-03-01T08:00:00.000+00:00","metrics":{"battery":0.982,"temperatureC":21.4}}</c>.
/// </summary>
/// <remarks>
/// A history holds millions of lines, so each is put together by hand in a reusable buffer instead of
/// through a JSON serializer: ids are checked to need no escaping (<see cref="HistoryOptions.Validate"/>),
/// times are whole milliseconds in UTC and the numbers are fixed-point. The date part is formatted once
/// per day, as one sensor's heartbeats come in time order.
/// </remarks>
internal sealed class NdjsonHeartbeatWriter(Stream stream, bool metrics) : IHeartbeatSink, IDisposable
{
    private const int BufferSize = 1 << 20;

    /// <summary>More than any one line needs: a 64-character id and the fixed parts.</summary>
    private const int LongestLine = 256;

    private const long MillisecondsPerDay = 86_400_000;

    private static readonly byte[] SensorStart = "{\"sensor\":\""u8.ToArray();
    private static readonly byte[] AtStart = "\",\"at\":\""u8.ToArray();
    private static readonly byte[] AtEnd = ".000+00:00\""u8.ToArray();
    private static readonly byte[] BatteryStart = ",\"metrics\":{\"battery\":"u8.ToArray();
    private static readonly byte[] TemperatureStart = ",\"temperatureC\":"u8.ToArray();

    private readonly byte[] _buffer = new byte[BufferSize];
    private readonly byte[] _date = new byte[11];
    private int _length;
    private long _day = long.MinValue;
    private SensorLife? _sensor;
    private byte[] _id = [];

    /// <summary>Bytes written so far, buffered ones included.</summary>
    public long Bytes { get; private set; }

    public long Lines { get; private set; }

    public void Beat(SensorLife life, long at, int batteryPerMille, int temperatureDeciC)
    {
        if (_length > BufferSize - LongestLine)
        {
            Flush();
        }

        if (!ReferenceEquals(life, _sensor))
        {
            _sensor = life;
            _id = Encoding.ASCII.GetBytes(life.Id);
        }

        var span = _buffer.AsSpan();
        var start = _length;
        Append(span, SensorStart);
        Append(span, _id);
        Append(span, AtStart);
        AppendTime(span, at);
        if (metrics)
        {
            Append(span, BatteryStart);
            AppendFixed(span, batteryPerMille, 1000);
            Append(span, TemperatureStart);
            AppendFixed(span, temperatureDeciC, 10);
            span[_length++] = (byte)'}';
        }

        span[_length++] = (byte)'}';
        span[_length++] = (byte)'\n';
        Bytes += _length - start;
        Lines++;
    }

    public void Flush()
    {
        stream.Write(_buffer, 0, _length);
        _length = 0;
    }

    public void Dispose() => Flush();

    private void Append(Span<byte> span, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(span[_length..]);
        _length += bytes.Length;
    }

    /// <summary><c>yyyy-MM-ddTHH:mm:ss.fff+00:00</c>.</summary>
    private void AppendTime(Span<byte> span, long at)
    {
        var day = Math.DivRem(at, MillisecondsPerDay, out var millisecond);
        if (day != _day)
        {
            _day = day;
            DateTime.UnixEpoch.AddDays(day).TryFormat(_date, out _, "yyyy-MM-dd'T'", CultureInfo.InvariantCulture);
        }

        Append(span, _date);
        var second = Math.DivRem(millisecond, 1000, out var fraction);
        AppendTwoDigits(span, second / 3600);
        span[_length++] = (byte)':';
        AppendTwoDigits(span, second / 60 % 60);
        span[_length++] = (byte)':';
        AppendTwoDigits(span, second % 60);
        Append(span, AtEnd);
        // AtEnd holds a placeholder fraction; the digits go over it.
        span[_length - 10] = (byte)('0' + (fraction / 100));
        span[_length - 9] = (byte)('0' + (fraction / 10 % 10));
        span[_length - 8] = (byte)('0' + (fraction % 10));
    }

    private void AppendTwoDigits(Span<byte> span, long value)
    {
        span[_length++] = (byte)('0' + (value / 10));
        span[_length++] = (byte)('0' + (value % 10));
    }

    /// <summary>
    /// <paramref name="units"/> / <paramref name="scale"/> (a power of ten) as the shortest decimal, as
    /// <c>0.###</c> would print it: 982/1000 → 0.982, 500/1000 → 0.5, 1000/1000 → 1, −15/10 → −1.5.
    /// </summary>
    private void AppendFixed(Span<byte> span, int units, int scale)
    {
        if (units < 0)
        {
            span[_length++] = (byte)'-';
            units = -units;
        }

        var whole = Math.DivRem(units, scale, out var fraction);
        Utf8Formatter.TryFormat(whole, span[_length..], out var written);
        _length += written;
        if (fraction == 0)
        {
            return;
        }

        span[_length++] = (byte)'.';
        for (var digit = scale / 10; fraction > 0; digit /= 10)
        {
            span[_length++] = (byte)('0' + (fraction / digit));
            fraction %= digit;
        }
    }
}
