using Sensors360.Grains.Sensors;

namespace Sensors360.Grains.Tests.Sensors;

/// <summary>
/// The stored form of a token and its comparison, which every heartbeat runs. The expected digests were computed
/// apart from the product, with coreutils (<c>printf '%s' TOKEN | sha256sum</c>).
/// </summary>
public sealed class SensorTokensTests
{
    [Theory]
    [InlineData("s360_proftoken", "feb5275780a85c3db31a7e9ff0f5f625430e300604e3e3ed92862448f3edd46e")]
    [InlineData("ünïcode-tøken", "4046834dea1a5b38335bfa91a6b9f9d3cec913f5309633a5e541e8b6ab9058ff")]
    public void A_token_is_stored_as_the_sha256_of_its_utf8_bytes(string token, string sha256sum)
    {
        Assert.Equal("sha256:" + sha256sum, SensorTokens.Hash(token));
        Assert.Equal("sha256:" + sha256sum, SensorTokens.Hash(("Bearer " + token + " ").AsSpan(7, token.Length)));
    }

    [Fact]
    public void A_token_too_long_for_the_stack_is_hashed_the_same_way()
    {
        // 2,000 'a's: `head -c 2000 /dev/zero | tr '\0' a | sha256sum`.
        Assert.Equal(
            "sha256:" + "c4a700f85b7e9e5cdbdc51170409ee2ad48bebe2f2f0957a067937531a0a3c42",
            SensorTokens.Hash(new string('a', 2_000)));
    }

    [Fact]
    public void Only_the_same_hash_matches()
    {
        var hash = SensorTokens.Hash("s360_proftoken");
        Assert.True(SensorTokens.Matches(hash, SensorTokens.Hash("s360_proftoken")));
        Assert.False(SensorTokens.Matches(hash, SensorTokens.Hash("s360_proftokem")));
        Assert.False(SensorTokens.Matches(hash, hash[..^1]));
        Assert.False(SensorTokens.Matches(hash, hash + "0"));
        // Two different non-ASCII strings of the same length: an ASCII encoding would turn both into "??".
        Assert.False(SensorTokens.Matches("éé", "üü"));
    }
}
