using System.Buffers.Text;
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

    public static string NewToken() => Prefix + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    public static string Hash(string token) =>
        HashPrefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>Compares two hashes in constant time, so response timing reveals nothing about the stored one.</summary>
    public static bool Matches(string presentedHash, string storedHash) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(presentedHash), Encoding.ASCII.GetBytes(storedHash));
}
