namespace Sensors360.Abstractions.Analytics;

/// <summary>
/// The lifespan estimate of the sensors with one tag (key: the tag), or of the whole fleet (key: <see cref="WholeFleet"/>). It is
/// computed when the grain activates and every 30 seconds after, so a reader never waits for a scan of the fleet.
/// </summary>
public interface ILifespanGrain : IGrainWithStringKey
{
    /// <summary>The key of the whole fleet's estimate; never a tag, since tags cannot contain '*'.</summary>
    public const string WholeFleet = "*";

    Task<LifespanReport> GetLifespan();
}
