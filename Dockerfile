# The Sensors 360 server (one silo with its HTTP API) as a container image; docs/operations.md#containers.
#   docker build -t sensors360 .
#   docker run -e ConnectionStrings__Postgres=... -e Sensors360__Cluster__ClusterId=... -e Sensors360__Cluster__ServiceId=... sensors360
# `migrate` as the command applies the schema as the owner role and exits (docs/security.md#least-privilege-database-roles).

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /source
# The build's rules and package versions, then the project files alone, so the restore layer is reused
# until a package changes.
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/Sensors360.Abstractions/Sensors360.Abstractions.csproj src/Sensors360.Abstractions/
COPY src/Sensors360.Grains/Sensors360.Grains.csproj src/Sensors360.Grains/
COPY src/Sensors360.Server/Sensors360.Server.csproj src/Sensors360.Server/
RUN dotnet restore src/Sensors360.Server/Sensors360.Server.csproj
# The SQL the server embeds (Orleans' tables and our migrations), then the sources.
COPY orleans-postgres.sql ./
COPY schema/ schema/
COPY src/Sensors360.Abstractions/ src/Sensors360.Abstractions/
COPY src/Sensors360.Grains/ src/Sensors360.Grains/
COPY src/Sensors360.Server/ src/Sensors360.Server/
RUN dotnet publish src/Sensors360.Server/Sensors360.Server.csproj -c Release --no-restore -o /app -p:UseAppHost=false

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
COPY --from=build /app ./
# The image's unprivileged user (uid 1654): the server needs no root, and binds no port below 1024.
USER $APP_UID
# HTTP (the API, the page, /metrics, the probes) and the Orleans silo port (Sensors360__Cluster__SiloPort).
ENV ASPNETCORE_HTTP_PORTS=8080
EXPOSE 8080 11111
# The runtime image has no curl or wget: the server itself asks /readyz (`healthcheck` exits 0 on 200).
HEALTHCHECK --interval=10s --timeout=6s --start-period=60s --retries=3 \
    CMD ["dotnet", "Sensors360.Server.dll", "healthcheck", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["dotnet", "Sensors360.Server.dll"]
