using System.Text;

namespace Sensors360.Testing;

/// <summary>
/// A read-only stream of <paramref name="lines"/> lines, each made by <paramref name="line"/> only when it is
/// read: a request body of any size (an NDJSON import, say) without holding it in memory.
/// </summary>
public sealed class GeneratedLinesStream(long lines, Func<long, string> line) : Stream
{
    private long _next;
    private byte[] _pending = [];
    private int _offset;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count)
    {
        var written = 0;
        while (written < count)
        {
            if (_offset == _pending.Length)
            {
                if (_next == lines)
                {
                    break;
                }

                _pending = Encoding.UTF8.GetBytes(line(_next++));
                _offset = 0;
            }

            var take = Math.Min(count - written, _pending.Length - _offset);
            Array.Copy(_pending, _offset, buffer, offset + written, take);
            _offset += take;
            written += take;
        }

        return written;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
