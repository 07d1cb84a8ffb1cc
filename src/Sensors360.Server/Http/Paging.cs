using Microsoft.AspNetCore.Http.HttpResults;

namespace Sensors360.Server.Http;

/// <summary>The <c>limit</c> query parameter every paged list shares.</summary>
public static class Paging
{
    public const int DefaultSize = 100;
    public const int MaxSize = 1000;

    /// <summary>The page size asked for (the default when absent), or a 400 problem saying what is allowed.</summary>
    public static bool TryParseLimit(
        string? limit, out int size, out ProblemHttpResult? problem, int defaultSize = DefaultSize, int maxSize = MaxSize)
    {
        size = defaultSize;
        problem = null;
        if (string.IsNullOrEmpty(limit) || (int.TryParse(limit, out size) && size >= 1 && size <= maxSize))
        {
            return true;
        }

        problem = HttpProblems.Problem(400, "Invalid limit", $"limit must be a whole number from 1 to {maxSize}");
        return false;
    }
}
