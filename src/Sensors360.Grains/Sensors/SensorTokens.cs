using System.Buffers.Text;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace Sensors360.Grains.Sensors;

/// <summary>
/// Sensor bearer tokens: 256 random bits, stored only as a SHA-256 hash. A fast hash is enough here
/// (unlike passwords) because a random 256-bit token cannot be guessed from its hash.
/// </summary>
public static class SensorTokens
{
    private const string Prefix = "s360_";
    private const string HashPrefix = "sha256:";

    // Every heartbeat is hashed and compared: both stay off the heap but for the hash string itself. Tokens are at
    // most this long on the heartbeat routes; a longer one (an operator's own) is encoded on the heap.
    private const int StackTokenBytes = 1024;

    public static string NewToken() => Prefix + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    public static string Hash(string token) => Hash(token.AsSpan());

    /// <summary>The stored form of <paramref name="token"/>: <c>sha256:</c> and the lower-case hex digest of its UTF-8 bytes.</summary>
    public static string Hash(ReadOnlySpan<char> token)
    {
        var length = Encoding.UTF8.GetMaxByteCount(token.Length);
        var utf8 = length <= StackTokenBytes ? stackalloc byte[length] : new byte[length];
        var written = Encoding.UTF8.GetBytes(token, utf8);
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(utf8[..written], digest);
        return string.Create(HashPrefix.Length + 2 * SHA256.HashSizeInBytes, digest, static (chars, hash) =>
        {
            HashPrefix.CopyTo(chars);
            Convert.TryToHexStringLower(hash, chars[HashPrefix.Length..], out _);
        });
    }

    /// <summary>Compares two hashes in constant time, so response timing reveals nothing about the stored one.</summary>
    public static bool Matches(string presentedHash, string storedHash) =>
        CryptographicOperations.FixedTimeEquals(
            MemoryMarshal.AsBytes(presentedHash.AsSpan()), MemoryMarshal.AsBytes(storedHash.AsSpan()));
}
