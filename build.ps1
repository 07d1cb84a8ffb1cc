#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds, runs and tests Sensors 360.

.DESCRIPTION
    dotnet tool restore && dotnet pwsh ./build.ps1 <command>

    run    Starts the server on http://localhost:5000. Without ConnectionStrings__Postgres it first
           creates and starts a private PostgreSQL under .data/ on a free port, and stops it again on Ctrl+C.
           -Https serves https://localhost:5001 instead, with a self-signed certificate made once under
           .data/https/ (see docs/security.md for a real certificate).
    test   Builds everything and runs every test project; ends with "N passed, N failed, N skipped".
    bench  Runs the benchmarks: ingest (bench/results/latest.md and latest.json: every ingest goal as a ratio
           with pass/miss, wrk as the client, a bare Kestrel and a bare ingest beside the server, the peaks in three
           interleaved rounds whose medians the ratios are (-Quick: one round), p99 at 70% of the peak in as
           many rounds (each at 70% of a peak run right before it), the live feed's cost in
           rounds of a run without and a run with the sockets), then
           analytics: the fleet's answers and the failure model's training at 100,000 sensors
           (bench/results/analytics.md and analytics.json). -Part ingest or -Part analytics runs one of them;
           -Part pipeline (not in all) runs the bare Kestrel, the product's noop and its variants in interleaved
           rounds (bench/results/pipeline.md; docs/performance.md, "The pipeline");
           -Quick runs short and small, to check the machinery. -Connections N (256) sets the connections wrk holds
           in the ingest, pipeline and scale peaks. wrk is installed with apt-get when missing.
           -Part scale (not in all): 1,000,000 sensors bulk-provisioned, 250,000 online: memory, heartbeat peak,
           database size (bench/results/scale.md and scale.json; -Quick: 20,000 and 5,000).
           -Partition runs only the partition trial instead (the heartbeat table range by month vs. hash by sensor inside
           each month: inserts, WAL, sizes, reads, retention; bench/results/partition.md and partition.json; about
           12 minutes, -Quick about 1). See docs/scaling.md.
    build  Builds the solution (Release).
    migrate Applies orleans-postgres.sql and the schema/ migrations with the owner role (the server's
           `migrate` command), for servers that run without DDL rights; see docs/security.md. Without
           ConnectionStrings__Postgres it migrates the private PostgreSQL of `run`.
    cluster Starts PostgreSQL (as `run` does), -Silos silos (3) on ports 5001.. and HAProxy with deploy/haproxy.cfg
           in front of them on http://127.0.0.1:5000; stops everything on Ctrl+C. See docs/operations.md.
    soak   Three silos behind HAProxy at half their measured peak for -Minutes (30): memory, CPU, p99 and errors per
           minute in bench/results/soak.md and soak.json.
    backup -To DIR: pg_dump (custom format) of the database into DIR/sensors360.dump, with DIR/manifest.json (time,
           server version, checksum, row counts of the main tables). The database is ConnectionStrings__Postgres,
           else the private PostgreSQL of `run`. See docs/operations.md, "Backups".
    restore -From DIR: pg_restore of DIR/sensors360.dump into the database, which must hold no tables unless
           -Force (then its schema is emptied and restored in one transaction); prints the row counts beside the manifest's.

    Missing system prerequisites (the PostgreSQL server, Chromium for the browser tests, HAProxy for the cluster)
    are installed with apt-get on Debian and Ubuntu.
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('run', 'test', 'bench', 'build', 'migrate', 'cluster', 'soak', 'backup', 'restore', 'help')]
    [string] $Command = 'help',

    # run: start the server without the demo fleet.
    [switch] $NoFleet,

    # run: serve https with a self-signed certificate (made once under .data/https/).
    [switch] $Https,

    # bench: which part to run (all: ingest, then analytics; pipeline and scale only when asked).
    [ValidateSet('all', 'ingest', 'analytics', 'pipeline', 'scale')]
    [string] $Part = 'all',

    # bench: short runs and small counts, to check the machinery (its numbers are not results).
    [switch] $Quick,

    # bench: run the partition trial (docs/scaling.md) instead of the other parts.
    [switch] $Partition,

    # bench: the connections wrk holds open in the ingest, pipeline and scale peaks (docs/performance.md, "The peaks' connection count").
    [ValidateRange(1, 4096)]
    [int] $Connections = 256,

    # cluster: how many silos behind HAProxy.
    [ValidateRange(1, 9)]
    [int] $Silos = 3,

    # soak: minutes at half the peak.
    [ValidateRange(1, 1440)]
    [int] $Minutes = 30,

    # backup: the directory to write the dump and its manifest to (created if missing).
    [string] $To,

    # restore: a directory written by backup.
    [string] $From,

    # restore: replace what the database holds instead of refusing.
    [switch] $Force
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$Root = $PSScriptRoot
$Solution = Join-Path $Root 'Sensors360.sln'
$ServerOutput = Join-Path $Root 'src/Sensors360.Server/bin/Release/net10.0'
$SimulatorOutput = Join-Path $Root 'src/Sensors360.Simulator/bin/Release/net10.0'
$DataDir = Join-Path $Root '.data'
$Configuration = 'Release'

function Write-Step([string] $Message) {
    Write-Host "==> $Message" -ForegroundColor Cyan
}

function Stop-Build([string] $Message) {
    Write-Host $Message -ForegroundColor Red
    exit 1
}

function Test-IsRoot {
    return $IsLinux -and ((& id -u) -eq '0')
}

# Runs a program, showing its output (never returning it), and throws if it fails.
function Invoke-Native([string] $Program, [string[]] $Arguments) {
    & $Program @Arguments | Out-Host
    if ($LASTEXITCODE -ne 0) {
        throw "$Program $($Arguments -join ' ') failed with exit code $LASTEXITCODE."
    }
}

# Runs a command as root: directly when root, else through sudo.
function Invoke-Privileged([string[]] $CommandLine) {
    if (Test-IsRoot) {
        Invoke-Native $CommandLine[0] @($CommandLine | Select-Object -Skip 1)
    }
    else {
        Invoke-Native 'sudo' $CommandLine
    }
}

# Runs a PostgreSQL server program; as root, as the postgres user, since PostgreSQL refuses to run as root.
function Invoke-AsPostgres([string] $Program, [string[]] $Arguments) {
    if (Test-IsRoot) {
        Invoke-Native 'runuser' (@('-u', 'postgres', '--', $Program) + $Arguments)
    }
    else {
        Invoke-Native $Program $Arguments
    }
}

function Find-PostgresBin {
    if ($env:SENSORS360_PG_BIN -and (Test-Path (Join-Path $env:SENSORS360_PG_BIN 'initdb'))) {
        return $env:SENSORS360_PG_BIN
    }
    if (-not (Test-Path '/usr/lib/postgresql')) {
        return $null
    }
    $candidates = Get-ChildItem '/usr/lib/postgresql' -Directory |
        Where-Object { (Test-Path (Join-Path $_.FullName 'bin/initdb')) -and (Test-Path (Join-Path $_.FullName 'bin/pg_ctl')) } |
        Sort-Object { [int]($_.Name -replace '\D', '') } -Descending
    if ($candidates) {
        return Join-Path @($candidates)[0].FullName 'bin'
    }
    return $null
}

# A Debian package the build needs: found by $Find, or installed with apt-get (through sudo when not root), or
# one sentence saying what to install. Returns what $Find finds.
function Install-DebianPackage {
    param([string] $Package, [string] $Wanted, [scriptblock] $Find, [scriptblock] $BeforeInstall)
    $found = & $Find
    if ($found) {
        return $found
    }
    if (-not ($IsLinux -and (Test-Path '/etc/debian_version') -and (Get-Command apt-get -ErrorAction SilentlyContinue))) {
        Stop-Build "$Wanted is missing: install it (Debian's package $Package) and run again."
    }
    if (-not (Test-IsRoot) -and -not (Get-Command sudo -ErrorAction SilentlyContinue)) {
        Stop-Build "$Wanted is missing and this user cannot install it: run 'apt-get install $Package' as root, then run again."
    }
    Write-Step "Installing $Package (apt-get install $Package)"
    if ($BeforeInstall) {
        & $BeforeInstall
    }
    Invoke-Privileged @('env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'update', '-qq')
    Invoke-Privileged @('env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-qq', '--no-install-recommends',
        '-o', 'Dpkg::Options::=--force-confold', $Package)
    $found = & $Find
    if (-not $found) {
        Stop-Build "apt-get installed $Package, but $Wanted is still missing: install it and run again."
    }
    return $found
}

# The PostgreSQL server binaries (or SENSORS360_PG_BIN pointing at them).
function Install-Postgres {
    return Install-DebianPackage -Package 'postgresql' -Find { Find-PostgresBin } `
        -Wanted 'The PostgreSQL server (initdb and pg_ctl, version 15 or later, under /usr/lib/postgresql/<version>/bin or in SENSORS360_PG_BIN)' `
        -BeforeInstall {
            # Our own clusters live in .data/ and in test directories; the package's default cluster is not needed.
            $createCluster = '/etc/postgresql-common/createcluster.conf'
            if (-not (Test-Path $createCluster)) {
                Invoke-Privileged @('sh', '-c', "mkdir -p /etc/postgresql-common && echo 'create_main_cluster = false' > $createCluster")
            }
        }
}

# Chromium for the dashboard's browser tests (Playwright drives it; it never downloads a browser of its own).
function Install-Chromium {
    Install-DebianPackage -Package 'chromium' -Wanted 'Chromium at /usr/bin/chromium, where the browser tests look for it' `
        -Find { if (Test-Path '/usr/bin/chromium') { '/usr/bin/chromium' } } | Out-Null
}

# wrk, the benchmark's HTTP client (a C client: far less CPU per request than the simulator's .NET one); its script's
# tests run it too.
function Install-Wrk {
    return Install-DebianPackage -Package 'wrk' -Wanted 'wrk (the HTTP benchmark client)' `
        -Find { if (Test-Path '/usr/bin/wrk') { '/usr/bin/wrk' } }
}

# HAProxy 2.6 or later for `cluster`, `soak` and the cluster tests (deploy/haproxy.cfg). The package's own service is
# not used: ours runs in the foreground.
function Install-HAProxy {
    return Install-DebianPackage -Package 'haproxy' -Wanted 'HAProxy at /usr/sbin/haproxy, where the cluster and its tests look for it' `
        -Find { if (Test-Path '/usr/sbin/haproxy') { '/usr/sbin/haproxy' } }
}

function Get-FreePort {
    $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
    $listener.Start()
    try { return $listener.LocalEndpoint.Port } finally { $listener.Stop() }
}

function New-Password {
    $bytes = [System.Security.Cryptography.RandomNumberGenerator]::GetBytes(24)
    return [System.Convert]::ToBase64String($bytes).Replace('+', 'x').Replace('/', 'y').TrimEnd('=')
}

# The self-signed certificate of `run -Https` for localhost, 127.0.0.1 and ::1, made with .NET's own
# CertificateRequest (no dev-certs needed) and kept under .data/https/ (git-ignored) until a week before it
# expires. Returns the PFX path and password for Kestrel, and the certificate as PEM for clients to trust.
function Get-DevelopmentCertificate {
    $dir = Join-Path $DataDir 'https'
    $pfx = Join-Path $dir 'localhost.pfx'
    $pem = Join-Path $dir 'localhost.pem'
    $passwordFile = Join-Path $dir 'certificate-password'
    New-Item -ItemType Directory -Force -Path $dir | Out-Null
    $current = $null
    if ((Test-Path $pfx) -and (Test-Path $passwordFile) -and (Test-Path $pem)) {
        $current = [System.Security.Cryptography.X509Certificates.X509CertificateLoader]::LoadPkcs12FromFile($pfx, (Get-Content $passwordFile -Raw))
    }
    if (-not $current -or $current.NotAfter -lt [DateTime]::Now.AddDays(7)) {
        Write-Step "Making a self-signed certificate for localhost in $dir"
        $key = [System.Security.Cryptography.RSA]::Create(2048)
        $request = [System.Security.Cryptography.X509Certificates.CertificateRequest]::new(
            'CN=localhost', $key, [System.Security.Cryptography.HashAlgorithmName]::SHA256, [System.Security.Cryptography.RSASignaturePadding]::Pkcs1)
        $names = [System.Security.Cryptography.X509Certificates.SubjectAlternativeNameBuilder]::new()
        $names.AddDnsName('localhost')
        $names.AddIpAddress([System.Net.IPAddress]::Loopback)
        $names.AddIpAddress([System.Net.IPAddress]::IPv6Loopback)
        $request.CertificateExtensions.Add($names.Build())
        $request.CertificateExtensions.Add([System.Security.Cryptography.X509Certificates.X509BasicConstraintsExtension]::new($false, $false, 0, $true))
        $request.CertificateExtensions.Add([System.Security.Cryptography.X509Certificates.X509KeyUsageExtension]::new(
            [System.Security.Cryptography.X509Certificates.X509KeyUsageFlags]'DigitalSignature, KeyEncipherment', $true))
        $serverAuth = [System.Security.Cryptography.OidCollection]::new()
        $serverAuth.Add([System.Security.Cryptography.Oid]::new('1.3.6.1.5.5.7.3.1')) | Out-Null
        $request.CertificateExtensions.Add([System.Security.Cryptography.X509Certificates.X509EnhancedKeyUsageExtension]::new($serverAuth, $false))
        $current = $request.CreateSelfSigned([DateTimeOffset]::UtcNow.AddDays(-1), [DateTimeOffset]::UtcNow.AddDays(365))
        $password = New-Password
        [System.IO.File]::WriteAllBytes($pfx, $current.Export([System.Security.Cryptography.X509Certificates.X509ContentType]::Pfx, $password))
        Set-Content -Path $passwordFile -Value $password -NoNewline
        Set-Content -Path $pem -Value $current.ExportCertificatePem() -NoNewline
        if ($IsLinux) { Invoke-Native 'chmod' @('600', $pfx, $passwordFile) }
    }
    return [pscustomobject]@{ Path = $pfx; Password = (Get-Content $passwordFile -Raw); Pem = $pem }
}

# Creates (first time) and starts the private PostgreSQL of `run` under .data/; returns its connection string.
function Start-PrivatePostgres([string] $Bin) {
    $pgDir = Join-Path $DataDir 'postgres'
    $cluster = Join-Path $pgDir 'data'
    $passwordFile = Join-Path $DataDir 'postgres-password'
    New-Item -ItemType Directory -Force -Path $pgDir | Out-Null
    if (Test-IsRoot) {
        Invoke-Native 'chown' @('postgres:postgres', $pgDir)
        & runuser -u postgres -- test -w $pgDir
        if ($LASTEXITCODE -ne 0) {
            Stop-Build "The postgres user cannot reach $pgDir (a parent directory is private): clone the repository somewhere other users can read, or set ConnectionStrings__Postgres to a database of your own."
        }
    }

    if (-not (Test-Path (Join-Path $cluster 'PG_VERSION'))) {
        Write-Step "Creating a private PostgreSQL cluster in $cluster"
        $password = New-Password
        $initPassword = Join-Path $pgDir 'initdb-password'
        Set-Content -Path $initPassword -Value $password -NoNewline
        if (Test-IsRoot) { Invoke-Native 'chown' @('postgres:postgres', $initPassword) }
        try {
            Invoke-AsPostgres (Join-Path $Bin 'initdb') @('-D', $cluster, '-U', 'postgres', '-A', 'scram-sha-256', "--pwfile=$initPassword", '-E', 'UTF8', '--no-instructions')
        }
        finally {
            Remove-Item $initPassword -Force
        }
        Set-Content -Path $passwordFile -Value $password -NoNewline
        if ($IsLinux) { Invoke-Native 'chmod' @('600', $passwordFile) }
    }
    $password = Get-Content $passwordFile -Raw

    $port = Get-FreePort
    Write-Step "Starting PostgreSQL on 127.0.0.1:$port"
    Invoke-AsPostgres (Join-Path $Bin 'pg_ctl') @('-D', $cluster, '-l', (Join-Path $pgDir 'server.log'), '-w', '-t', '60',
        '-o', "-p $port -k $pgDir -c listen_addresses=127.0.0.1", 'start')

    $env:PGPASSWORD = $password
    try {
        $psql = Join-Path $Bin 'psql'
        $exists = & $psql -h 127.0.0.1 -p $port -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'sensors360'"
        if ($LASTEXITCODE -ne 0) { throw 'psql could not query the private PostgreSQL.' }
        if ("$exists".Trim() -ne '1') {
            Invoke-Native $psql @('-h', '127.0.0.1', '-p', "$port", '-U', 'postgres', '-d', 'postgres', '-qc', 'CREATE DATABASE sensors360')
        }
        $ownerPassword = Set-OwnerRole $psql $port
    }
    catch {
        Invoke-AsPostgres (Join-Path $Bin 'pg_ctl') @('-D', $cluster, '-m', 'fast', '-w', 'stop')
        throw
    }
    finally {
        Remove-Item Env:PGPASSWORD
    }

    return [pscustomobject]@{
        Port             = $port
        Cluster          = $cluster
        Log              = Join-Path $pgDir 'server.log'
        PasswordFile     = $passwordFile
        OwnerPasswordFile = Join-Path $DataDir 'postgres-owner-password'
        ConnectionString = "Host=127.0.0.1;Port=$port;Database=sensors360;Username=sensors360;Password=$ownerPassword"
    }
}

# The server runs as the role sensors360, which owns the database and its objects but is not a superuser
# (docs/security.md): created the first time, its password kept beside the data; objects an older version
# created as postgres are handed over to it. SQL goes through stdin, so no password shows in a process list.
function Set-OwnerRole([string] $Psql, [int] $Port) {
    $ownerPasswordFile = Join-Path $DataDir 'postgres-owner-password'
    if (-not (Test-Path $ownerPasswordFile)) {
        Set-Content -Path $ownerPasswordFile -Value (New-Password) -NoNewline
        if ($IsLinux) { Invoke-Native 'chmod' @('600', $ownerPasswordFile) }
    }
    $ownerPassword = Get-Content $ownerPasswordFile -Raw
    $role = @"
DO `$`$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sensors360') THEN
        CREATE ROLE sensors360 LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
    END IF;
END
`$`$;
ALTER ROLE sensors360 WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$ownerPassword';
ALTER DATABASE sensors360 OWNER TO sensors360;
"@
    $role | & $Psql -h 127.0.0.1 -p $Port -U postgres -d postgres -v ON_ERROR_STOP=1 -q | Out-Host
    if ($LASTEXITCODE -ne 0) { throw 'psql could not create the role sensors360.' }
    $handOver = @'
DO $$
DECLARE item record;
BEGIN
    FOR item IN
        SELECT c.oid::regclass AS name, c.relkind FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND c.relowner <> 'sensors360'::regrole
          -- Sequences of identity and serial columns follow their table.
          AND NOT (c.relkind = 'S' AND EXISTS (
              SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO sensors360',
            CASE item.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, item.name);
    END LOOP;
    FOR item IN SELECT p.oid::regprocedure AS name FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> 'sensors360'::regrole
    LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO sensors360', item.name);
    END LOOP;
END
$$;
'@
    $handOver | & $Psql -h 127.0.0.1 -p $Port -U postgres -d sensors360 -v ON_ERROR_STOP=1 -q | Out-Host
    if ($LASTEXITCODE -ne 0) { throw 'psql could not hand the database objects over to the role sensors360.' }
    return $ownerPassword
}

function Stop-PrivatePostgres([string] $Bin, $Postgres) {
    Write-Step 'Stopping the private PostgreSQL'
    Invoke-AsPostgres (Join-Path $Bin 'pg_ctl') @('-D', $Postgres.Cluster, '-m', 'fast', '-w', 'stop')
}

function Invoke-Build {
    Write-Step "Building $([System.IO.Path]::GetFileName($Solution)) ($Configuration)"
    & dotnet build $Solution -c $Configuration --nologo -v quiet
    if ($LASTEXITCODE -ne 0) {
        Stop-Build 'The build failed (see the errors above).'
    }
}

# The address to reach the server at, from the first of ASPNETCORE_URLS (wildcard hosts become localhost).
function Get-LocalUrl([string] $Urls) {
    $first = ($Urls -split ';')[0]
    return $first -replace '://(\*|\+|0\.0\.0\.0|\[::\])', '://localhost'
}

function Wait-Ready([string] $Url, $Process) {
    $deadline = [DateTime]::UtcNow.AddMinutes(2)
    while ([DateTime]::UtcNow -lt $deadline -and -not $Process.HasExited) {
        try {
            # Our own server on this machine: its self-signed certificate (run -Https) is not checked here.
            if ((Invoke-WebRequest -Uri "$Url/readyz" -SkipHttpErrorCheck -SkipCertificateCheck -TimeoutSec 2).StatusCode -eq 200) { return $true }
        }
        catch { }
        Start-Sleep -Milliseconds 500
    }
    return $false
}

# The database of `run` and `cluster`: the one in ConnectionStrings__Postgres, or else the private PostgreSQL, started
# here and returned (with its Bin) so the caller stops it; $null when the database is not ours. The private database
# gets an admin with a random password, made once and kept beside the data.
function Use-LocalDatabase {
    if (-not [string]::IsNullOrWhiteSpace($env:ConnectionStrings__Postgres)) {
        return $null
    }
    $bin = Install-Postgres
    $postgres = Start-PrivatePostgres $bin
    $postgres | Add-Member -NotePropertyName Bin -NotePropertyValue $bin
    $env:ConnectionStrings__Postgres = $postgres.ConnectionString
    if ([string]::IsNullOrWhiteSpace($env:Sensors360__Bootstrap__AdminPassword)) {
        $adminPasswordFile = Join-Path $DataDir 'admin-password'
        if (-not (Test-Path $adminPasswordFile)) {
            Set-Content -Path $adminPasswordFile -Value (New-Password) -NoNewline
            if ($IsLinux) { Invoke-Native 'chmod' @('600', $adminPasswordFile) }
        }
        $env:Sensors360__Bootstrap__AdminPassword = Get-Content $adminPasswordFile -Raw
    }
    return $postgres
}

# Silos on this machine: their ports on loopback only, and a cluster id of their own (production must choose both);
# with the demo fleet, silence is checked every 10 s (sensors stay silent for a minute before an alert).
function Set-LocalDefaults {
    foreach ($setting in @(
            @('Sensors360__Cluster__AdvertisedAddress', '127.0.0.1'),
            @('Sensors360__Cluster__ClusterId', 'sensors360-local'),
            @('Sensors360__Cluster__ServiceId', 'sensors360'))) {
        if ([string]::IsNullOrWhiteSpace([Environment]::GetEnvironmentVariable($setting[0]))) {
            [Environment]::SetEnvironmentVariable($setting[0], $setting[1])
        }
    }
    if (-not $NoFleet -and [string]::IsNullOrWhiteSpace($env:Sensors360__Monitoring__SilenceCheckPeriod)) {
        $env:Sensors360__Monitoring__SilenceCheckPeriod = '00:00:10'
    }
}

function Get-AdminUser {
    if ($env:Sensors360__Bootstrap__AdminUser) { return $env:Sensors360__Bootstrap__AdminUser } else { return 'admin' }
}

function Get-OperatorPassword {
    if ($env:SENSORS360_PASSWORD) { return $env:SENSORS360_PASSWORD } else { return $env:Sensors360__Bootstrap__AdminPassword }
}

# The lines of the start-up summary `run` and `cluster` share: the operator, the database, the demo fleet.
function Write-LocalSummary($Postgres, [string] $AdminUser, [string] $OperatorPassword) {
    if ($Postgres) {
        Write-Host "  operator      user '$AdminUser', password $env:Sensors360__Bootstrap__AdminPassword  (kept in $(Join-Path $DataDir 'admin-password'))"
        Write-Host "  PostgreSQL    127.0.0.1:$($Postgres.Port), database sensors360; the server runs as sensors360 (owner, not a superuser)"
        Write-Host "                passwords in $($Postgres.OwnerPasswordFile) (sensors360) and $($Postgres.PasswordFile) (postgres)"
        Write-Host "                data in $($Postgres.Cluster), log $($Postgres.Log)"
    }
    else {
        Write-Host '  PostgreSQL    the database in ConnectionStrings__Postgres'
    }
    if ($NoFleet) {
        Write-Host '  demo fleet    off (-NoFleet)'
    }
    elseif (-not $OperatorPassword) {
        Write-Host "  demo fleet    off: set SENSORS360_PASSWORD to an operator's password to start it"
    }
    else {
        Write-Host "  demo fleet    200 simulated sensors, a heartbeat every 5 s, short Weibull lifespans, 1-minute silence"
        Write-Host "                threshold, dead sensors replaced; log $(Join-Path $DataDir 'simulator.log'), truth $(Join-Path $DataDir 'fleet-truth.csv')"
    }
    Write-Host '  Ctrl+C stops everything' -NoNewline
    if ($Postgres) { Write-Host ', the private PostgreSQL too.' } else { Write-Host '.' }
    Write-Host ''
}

# The demo fleet against $Url (a server, or the load balancer); its log keeps its status line out of the console.
function Start-DemoFleet([string] $Url, [string] $AdminUser, [string] $OperatorPassword, $Certificate) {
    New-Item -ItemType Directory -Force -Path $DataDir | Out-Null
    $env:SENSORS360_PASSWORD = $OperatorPassword
    # .NET on Linux trusts the certificates in SSL_CERT_FILE: the fleet trusts exactly this one.
    if ($Certificate) { $env:SSL_CERT_FILE = $Certificate.Pem }
    $fleet = Start-Process -FilePath 'dotnet' -WorkingDirectory $Root -PassThru `
        -RedirectStandardOutput (Join-Path $DataDir 'simulator.log') -RedirectStandardError (Join-Path $DataDir 'simulator-errors.log') `
        -ArgumentList @((Join-Path $SimulatorOutput 'Sensors360.Simulator.dll'), 'fleet', '--server', $Url, '--user', $AdminUser,
            '--sensors', '200', '--interval', '5s', '--threshold', '60', '--lifespan-scale', '600s', '--replace',
            '--truth', (Join-Path $DataDir 'fleet-truth.csv'))
    Write-Host "Demo fleet started (pid $($fleet.Id))." -ForegroundColor Green
    return $fleet
}

# Stops processes started here: SIGINT to all at once (a server drains, docs/operations.md), then kills what is left
# after $Seconds.
function Stop-Started([object[]] $Processes, [int] $Seconds) {
    $running = @($Processes | Where-Object { $_ -and -not $_.HasExited })
    foreach ($process in $running) {
        & kill -INT $process.Id 2>$null
    }
    $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
    foreach ($process in $running) {
        $left = [Math]::Max(0, [int]($deadline - [DateTime]::UtcNow).TotalMilliseconds)
        if (-not $process.WaitForExit($left)) { $process.Kill($true) }
    }
}

function Invoke-Run {
    $postgres = $null
    $server = $null
    $fleet = $null
    $postgres = Use-LocalDatabase
    $adminUser = Get-AdminUser
    $operatorPassword = Get-OperatorPassword
    $certificate = $null
    if ($Https) {
        # Kestrel's standard settings for its default certificate; a real one is configured the same way.
        $certificate = Get-DevelopmentCertificate
        $env:Kestrel__Certificates__Default__Path = $certificate.Path
        $env:Kestrel__Certificates__Default__Password = $certificate.Password
    }
    if ([string]::IsNullOrWhiteSpace($env:ASPNETCORE_URLS)) {
        $env:ASPNETCORE_URLS = if ($Https) { 'https://localhost:5001' } else { 'http://localhost:5000' }
    }
    Set-LocalDefaults
    # One server and no load balancer in front of it: nothing to wait for when it stops.
    if ([string]::IsNullOrWhiteSpace($env:Sensors360__Http__DrainDelay)) {
        $env:Sensors360__Http__DrainDelay = '00:00:00'
    }
    $url = Get-LocalUrl $env:ASPNETCORE_URLS
    try {
        Invoke-Build
        Write-Host ''
        Write-Host 'Sensors 360 is starting:' -ForegroundColor Green
        Write-Host "  server        $url  (GET /healthz, /readyz; API under /api, see docs/api.md)"
        if ($certificate) {
            Write-Host "  https         self-signed certificate $($certificate.Path) (browsers warn once; trust $($certificate.Pem) to avoid it)"
        }
        Write-LocalSummary $postgres $adminUser $operatorPassword

        # The server shares this console; the fleet writes to a log so its status line does not mix in.
        $server = Start-Process -FilePath 'dotnet' -ArgumentList @((Join-Path $ServerOutput 'Sensors360.Server.dll')) `
            -WorkingDirectory $ServerOutput -NoNewWindow -PassThru
        if (-not $NoFleet -and $operatorPassword) {
            if (Wait-Ready $url $server) {
                $fleet = Start-DemoFleet $url $adminUser $operatorPassword $certificate
            }
            elseif (-not $server.HasExited) {
                Write-Host 'The server did not become ready within 2 minutes; the demo fleet was not started.' -ForegroundColor Yellow
            }
        }
        $server.WaitForExit()
    }
    finally {
        Stop-Started @($fleet) 20
        Stop-Started @($server) 20
        if ($postgres) {
            Stop-PrivatePostgres $postgres.Bin $postgres
        }
    }
}

# deploy/haproxy.cfg with one `server siloN address` line per silo in place of its own, each in the form of the file's
# first such line; every other line as it is. LoadBalancer.Render (test/Sensors360.Testing) follows the same rule.
function Write-HaproxyConfig([string] $Path, [string[]] $Silos) {
    $serverLine = '^(?<head>\s*server\s+)silo\d+(?<gap>\s+)\S+(?<tail>.*)$'
    $lines = [System.Collections.Generic.List[string]]::new()
    $written = $false
    foreach ($line in Get-Content (Join-Path $Root 'deploy/haproxy.cfg')) {
        if ($line -notmatch $serverLine) {
            $lines.Add($line)
        }
        elseif (-not $written) {
            for ($i = 0; $i -lt $Silos.Count; $i++) {
                $lines.Add("$($Matches.head)silo$($i + 1)$($Matches.gap)$($Silos[$i])$($Matches.tail)")
            }
            $written = $true
        }
    }
    if (-not $written) { throw "deploy/haproxy.cfg has no 'server silo1 <address>' line to repeat." }
    Set-Content -Path $Path -Value $lines
}

# Each silo's state in HAProxy's health checks ("UP", "DOWN", ...), from its stats page; $null while it does not answer.
function Get-BalancerStates([string] $StatsUrl) {
    try {
        $csv = (Invoke-WebRequest -Uri "$StatsUrl/;csv" -TimeoutSec 2).Content
    }
    catch {
        return $null
    }
    $rows = ($csv -replace '^# ', '') -split "`n" | Where-Object { $_ } | ConvertFrom-Csv
    $states = [ordered]@{}
    foreach ($row in $rows | Where-Object { $_.pxname -eq 'silos' -and $_.svname -notin @('FRONTEND', 'BACKEND') }) {
        $states[$row.svname] = $row.status
    }
    return $states
}

# Starts silo $Index (1-based) of the local cluster: its own HTTP and silo ports, trusting the balancer on loopback.
function Start-Silo([int] $Index, [string] $Directory) {
    $environment = @{
        ASPNETCORE_URLS                     = "http://127.0.0.1:$(5000 + $Index)"
        Sensors360__Cluster__SiloPort       = "$(11110 + $Index)"
        Sensors360__Http__KnownProxies__0   = '127.0.0.1'
    }
    return Start-Process -FilePath 'dotnet' -ArgumentList @((Join-Path $ServerOutput 'Sensors360.Server.dll')) -WorkingDirectory $ServerOutput `
        -Environment $environment -PassThru `
        -RedirectStandardOutput (Join-Path $Directory "silo$Index.log") -RedirectStandardError (Join-Path $Directory "silo$Index.errors.log")
}

# PostgreSQL, -Silos silos and HAProxy in front of them on this machine (docs/operations.md#topology); one URL.
function Invoke-Cluster {
    $postgres = $null
    $started = @()
    $balancer = $null
    $fleet = $null
    $haproxy = Install-HAProxy
    $postgres = Use-LocalDatabase
    $adminUser = Get-AdminUser
    $operatorPassword = Get-OperatorPassword
    Set-LocalDefaults
    $directory = Join-Path $DataDir 'cluster'
    New-Item -ItemType Directory -Force -Path $directory | Out-Null
    $listen = '127.0.0.1:5000'
    $statsUrl = 'http://127.0.0.1:8404'
    $url = "http://$listen"
    try {
        Invoke-Build
        $configuration = Join-Path $directory 'haproxy.cfg'
        Write-HaproxyConfig $configuration @(1..$Silos | ForEach-Object { "127.0.0.1:$(5000 + $_)" })
        Write-Step "Starting $Silos silos and HAProxy"
        $started = @(1..$Silos | ForEach-Object { Start-Silo $_ $directory })
        $balancer = Start-Process -FilePath $haproxy -ArgumentList @('-db', '-f', $configuration) -PassThru `
            -Environment @{ SENSORS360_LISTEN = $listen; SENSORS360_STATS = '127.0.0.1:8404' } `
            -RedirectStandardOutput (Join-Path $directory 'haproxy.log') -RedirectStandardError (Join-Path $directory 'haproxy.errors.log')

        # Ready through the balancer: HAProxy's health checks (/readyz) hold every silo up.
        $deadline = [DateTime]::UtcNow.AddMinutes(3)
        $states = $null
        while ([DateTime]::UtcNow -lt $deadline) {
            $exited = @($started | Where-Object { $_.HasExited }) + @($balancer | Where-Object { $_.HasExited })
            if ($exited) {
                Stop-Build "A process of the cluster exited while starting; see the logs in $directory."
            }
            $states = Get-BalancerStates $statsUrl
            if ($states -and @($states.Values | Where-Object { $_ -ne 'UP' }).Count -eq 0 -and $states.Count -eq $Silos) { break }
            Start-Sleep -Milliseconds 500
        }
        if (-not $states -or @($states.Values | Where-Object { $_ -ne 'UP' }).Count -gt 0) {
            Stop-Build "Not every silo was up behind HAProxy within 3 minutes; see the logs in $directory."
        }

        Write-Host ''
        Write-Host "Sensors 360 is up: $Silos silos behind HAProxy." -ForegroundColor Green
        Write-Host "  URL           $url  (the page, the API and /ws/dashboard, through HAProxy)"
        for ($i = 1; $i -le $Silos; $i++) {
            Write-Host "  silo$i         http://127.0.0.1:$(5000 + $i), silo port $(11110 + $i), pid $($started[$i - 1].Id), log $(Join-Path $directory "silo$i.log")"
        }
        Write-Host "  HAProxy       $configuration; silo states on $statsUrl, log $(Join-Path $directory 'haproxy.log')"
        Write-LocalSummary $postgres $adminUser $operatorPassword
        if (-not $NoFleet -and $operatorPassword) {
            $fleet = Start-DemoFleet $url $adminUser $operatorPassword $null
        }

        # Until Ctrl+C: each change of a silo's state, as HAProxy sees it (try kill -9 or kill -TERM on a silo's pid).
        while (-not $balancer.HasExited) {
            Start-Sleep -Seconds 1
            $now = Get-BalancerStates $statsUrl
            if (-not $now) { continue }
            foreach ($name in $now.Keys) {
                # "UP 1/2" (one failed check) is still up: only ups and downs are shown.
                if (($states[$name] -split ' ')[0] -ne ($now[$name] -split ' ')[0]) {
                    Write-Host "$(Get-Date -Format 'HH:mm:ss') $name is $($now[$name]) in HAProxy" -ForegroundColor Yellow
                }
            }
            $states = $now
        }
        Write-Host "HAProxy exited; see $(Join-Path $directory 'haproxy.errors.log')." -ForegroundColor Red
    }
    finally {
        Stop-Started @($fleet, $balancer) 10
        Stop-Started $started 45
        if ($postgres) {
            Stop-PrivatePostgres $postgres.Bin $postgres
        }
    }
}

# Applies the schema as the owner role, with the server's own migrate command; Sensors360__Database__RuntimeRole,
# if set, names the login role the server will run as, which is granted its run-time rights.
function Invoke-Migrate {
    $bin = $null
    $postgres = $null
    if ([string]::IsNullOrWhiteSpace($env:ConnectionStrings__Postgres)) {
        $bin = Install-Postgres
        $postgres = Start-PrivatePostgres $bin
        $env:ConnectionStrings__Postgres = $postgres.ConnectionString
    }
    try {
        Invoke-Build
        Write-Step 'Applying orleans-postgres.sql and the schema/ migrations'
        & dotnet (Join-Path $ServerOutput 'Sensors360.Server.dll') migrate
        if ($LASTEXITCODE -ne 0) {
            Stop-Build 'The migration failed (see the message above).'
        }
    }
    finally {
        if ($postgres) {
            Stop-PrivatePostgres $bin $postgres
        }
    }
}

# The tables a backup's manifest counts, where they exist: ours and the Orleans state that matters on restore.
$ManifestTables = @('app_user', 'sensor', 'heartbeat', 'alert', 'audit_event', 'operator_session',
    'heartbeat_interval_histogram', 'data_protection_key', 'orleans_reminder', 'orleans_grain_state', 'schemaversions')
$BackupFile = 'sensors360.dump'
$ManifestFile = 'manifest.json'

# Runs $Action with libpq's environment (PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, PGSSLMODE) taken from an
# Npgsql connection string, so pg_dump, pg_restore and psql reach the server's database and no password shows
# in a process list; the environment is put back afterwards.
function Invoke-WithLibpq([string] $ConnectionString, [scriptblock] $Action) {
    $names = @{
        'host' = 'PGHOST'; 'server' = 'PGHOST'; 'port' = 'PGPORT'; 'database' = 'PGDATABASE'; 'db' = 'PGDATABASE'
        'username' = 'PGUSER'; 'user name' = 'PGUSER'; 'user id' = 'PGUSER'; 'userid' = 'PGUSER'; 'user' = 'PGUSER'
        'password' = 'PGPASSWORD'; 'pwd' = 'PGPASSWORD'; 'ssl mode' = 'PGSSLMODE'; 'sslmode' = 'PGSSLMODE'
    }
    $settings = @{}
    foreach ($part in $ConnectionString -split ';') {
        if ($part -notmatch '=') { continue }
        $key, $value = $part -split '=', 2
        $name = $names[$key.Trim().ToLowerInvariant()]
        if ($name) {
            $value = $value.Trim()
            if ($name -eq 'PGSSLMODE') { $value = ($value -creplace '(?<=[a-z])(?=[A-Z])', '-').ToLowerInvariant() -replace 'verify-c-a', 'verify-ca' }
            $settings[$name] = $value
        }
    }
    if (-not $settings['PGDATABASE']) {
        Stop-Build 'ConnectionStrings__Postgres names no Database: set Database=<name> in it.'
    }
    $saved = @{}
    foreach ($name in @('PGHOST', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGPASSWORD', 'PGSSLMODE')) {
        $saved[$name] = [Environment]::GetEnvironmentVariable($name)
        Set-LibpqVariable $name $settings[$name]
    }
    try {
        & $Action
    }
    finally {
        foreach ($name in $saved.Keys) { Set-LibpqVariable $name $saved[$name] }
    }
}

# Sets or (for $null: PowerShell would pass an empty string, which libpq reads as a value) removes a variable.
function Set-LibpqVariable([string] $Name, $Value) {
    if ($null -eq $Value) {
        Remove-Item "Env:$Name" -ErrorAction SilentlyContinue
    }
    else {
        Set-Item "Env:$Name" $Value
    }
}

# One value from psql (libpq's environment), or a stop with its error.
function Get-PsqlValue([string] $Bin, [string] $Sql) {
    $value = & (Join-Path $Bin 'psql') -X -q -t -A -v ON_ERROR_STOP=1 --no-password -c $Sql
    if ($LASTEXITCODE -ne 0) {
        Stop-Build "psql could not query $env:PGDATABASE on ${env:PGHOST}:$env:PGPORT (see the message above)."
    }
    return "$value".Trim()
}

# Row counts of the manifest's tables that exist, in the database of libpq's environment, by name.
function Get-TableCounts([string] $Bin) {
    $names = ($ManifestTables | ForEach-Object { "'$_'" }) -join ', '
    $rows = Get-PsqlValue $Bin @"
SELECT string_agg(c.relname || '=' || (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I', c.relname), false, true, '')))[1]::text, ';' ORDER BY c.relname)
FROM pg_class c WHERE c.relname IN ($names) AND c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
"@
    $counts = [ordered]@{}
    foreach ($pair in ($rows -split ';' | Where-Object { $_ })) {
        $name, $count = $pair -split '=', 2
        $counts[$name] = [long]$count
    }
    return $counts
}

# backup and restore work on ConnectionStrings__Postgres, else on the private PostgreSQL of `run` (started for the
# command and stopped after it). Returns that private PostgreSQL (with its Bin) or $null.
function Use-CommandDatabase([string] $Bin) {
    if (-not [string]::IsNullOrWhiteSpace($env:ConnectionStrings__Postgres)) {
        return $null
    }
    $postgres = Start-PrivatePostgres $Bin
    $env:ConnectionStrings__Postgres = $postgres.ConnectionString
    return $postgres
}

function Invoke-Backup {
    if ([string]::IsNullOrWhiteSpace($To)) {
        Stop-Build 'backup needs -To DIR: the directory to write the dump and its manifest to.'
    }
    $bin = Install-Postgres
    $postgres = Use-CommandDatabase $bin
    try {
        Invoke-WithLibpq $env:ConnectionStrings__Postgres {
            $directory = (New-Item -ItemType Directory -Force -Path $To).FullName
            $dump = Join-Path $directory $BackupFile
            $partial = "$dump.partial"
            $started = [DateTimeOffset]::UtcNow
            Write-Step "Dumping $env:PGDATABASE on ${env:PGHOST}:$env:PGPORT to $dump"
            # Custom format: compressed, and pg_restore can pick objects or run in parallel. Written aside, so a
            # failed dump never leaves a file that looks whole.
            Invoke-Native (Join-Path $bin 'pg_dump') @('--format=custom', '--no-password', "--file=$partial")
            Move-Item -Force -Path $partial -Destination $dump
            # Counted after the dump: on a quiet database equal to it; on a live one a few rows ahead.
            $manifest = [ordered]@{
                createdAt     = $started.ToString('o')
                database      = $env:PGDATABASE
                serverVersion = Get-PsqlValue $bin 'SHOW server_version'
                pgDump        = "$(& (Join-Path $bin 'pg_dump') --version)".Trim()
                file          = $BackupFile
                bytes         = (Get-Item $dump).Length
                sha256        = (Get-FileHash -Algorithm SHA256 -Path $dump).Hash.ToLowerInvariant()
                tables        = Get-TableCounts $bin
            }
            $manifest | ConvertTo-Json -Depth 4 | Set-Content -Path (Join-Path $directory $ManifestFile)
            foreach ($table in $manifest.tables.Keys) {
                Write-Host ('  {0,-30} {1,12}' -f $table, $manifest.tables[$table])
            }
            Write-Host "Backup written to $directory ($($manifest.bytes) bytes)."
        }
    }
    finally {
        if ($postgres) { Stop-PrivatePostgres $bin $postgres }
    }
}

function Invoke-Restore {
    if ([string]::IsNullOrWhiteSpace($From)) {
        Stop-Build 'restore needs -From DIR: a directory written by build.ps1 backup.'
    }
    $dump = Join-Path $From $BackupFile
    $manifestPath = Join-Path $From $ManifestFile
    if (-not (Test-Path -PathType Leaf $dump) -or -not (Test-Path -PathType Leaf $manifestPath)) {
        Stop-Build "No backup in ${From}: it must hold $BackupFile and $ManifestFile, as build.ps1 backup writes them."
    }
    $manifest = Get-Content -Raw $manifestPath | ConvertFrom-Json -AsHashtable -DateKind String
    $hash = (Get-FileHash -Algorithm SHA256 -Path $dump).Hash.ToLowerInvariant()
    if ($hash -ne $manifest['sha256']) {
        Stop-Build "$dump is not the file its manifest describes (SHA-256 $hash, the manifest says $($manifest['sha256'])): it is damaged or was replaced."
    }
    $bin = Install-Postgres
    $postgres = Use-CommandDatabase $bin
    try {
        Invoke-WithLibpq $env:ConnectionStrings__Postgres {
            $tables = [int](Get-PsqlValue $bin "SELECT count(*) FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p')")
            $arguments = @('--no-password', '--no-owner')
            Write-Step "Restoring $dump (taken $($manifest['createdAt']) from PostgreSQL $($manifest['serverVersion'])) into $env:PGDATABASE on ${env:PGHOST}:$env:PGPORT"
            if ($tables -eq 0) {
                # One transaction: a restore that fails leaves the database as it was.
                Invoke-Native (Join-Path $bin 'pg_restore') ($arguments + @('--single-transaction', '--exit-on-error', "--dbname=$env:PGDATABASE", $dump))
            }
            elseif (-not $Force) {
                Stop-Build "$env:PGDATABASE on ${env:PGHOST}:$env:PGPORT already holds $tables tables: restore into an empty database, or add -Force to replace what it holds."
            }
            else {
                # pg_restore --clean cannot drop a partitioned table's inherited keys, so the schema is emptied instead,
                # in the same transaction as the restore (psql -1 runs the -c and the script as one): all or nothing. The
                # script is written out whole first, so a pg_restore that fails half-way never empties the schema.
                $schema = Get-PsqlValue $bin 'SELECT format(''%I'', current_schema())'
                # The script holds everything the database does (password hashes, keys): in a directory only this user reads.
                $private = New-Item -ItemType Directory -Path (Join-Path ([System.IO.Path]::GetTempPath()) "sensors360-restore-$([guid]::NewGuid().ToString('N'))")
                if ($IsLinux -or $IsMacOS) { Invoke-Native 'chmod' @('700', $private.FullName) }
                $script = Join-Path $private.FullName 'restore.sql'
                try {
                    Invoke-Native (Join-Path $bin 'pg_restore') ($arguments + @("--file=$script", $dump))
                    & (Join-Path $bin 'psql') -X -q --no-password -v ON_ERROR_STOP=1 --single-transaction `
                        -c "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE; CREATE SCHEMA $schema;" -f $script | Out-Null
                    if ($LASTEXITCODE -ne 0) {
                        Stop-Build 'The restore failed (see the message above); the database is as it was.'
                    }
                }
                finally {
                    Remove-Item -Recurse -Force -ErrorAction SilentlyContinue $private.FullName
                }
            }
            $restored = Get-TableCounts $bin
            $different = 0
            foreach ($table in $manifest['tables'].Keys) {
                $now = if ($restored.Contains($table)) { $restored[$table] } else { 'missing' }
                $mark = if ("$now" -ne "$($manifest['tables'][$table])") { $different++; '  <- differs' } else { '' }
                Write-Host ('  {0,-30} {1,12} {2,12}{3}' -f $table, $manifest['tables'][$table], $now, $mark)
            }
            if ($different -gt 0) {
                Write-Host "$different tables differ from the manifest (a backup of a live database counts a few rows after its dump)." -ForegroundColor Yellow
            }
            Write-Host "Restored $env:PGDATABASE from $From."
        }
    }
    finally {
        if ($postgres) { Stop-PrivatePostgres $bin $postgres }
    }
}

# Sums the counters of every TRX file: "N passed, N failed, N skipped".
function Get-TestCounts([string[]] $TrxFiles) {
    $counts = [ordered]@{ passed = 0; failed = 0; skipped = 0 }
    foreach ($file in $TrxFiles) {
        [xml] $trx = Get-Content $file -Raw
        $counters = $trx.TestRun.ResultSummary.Counters
        $counts.passed += [int] $counters.passed
        $counts.failed += [int] $counters.failed + [int] $counters.error + [int] $counters.timeout + [int] $counters.aborted
        $counts.skipped += [int] $counters.notExecuted + [int] $counters.inconclusive
    }
    return $counts
}

# Names every failed test with the first lines of its message, so the end of a CI log says what broke.
function Write-FailedTests([string[]] $TrxFiles) {
    foreach ($file in $TrxFiles) {
        [xml] $trx = Get-Content $file -Raw
        foreach ($result in @($trx.TestRun.Results.UnitTestResult)) {
            if (-not $result -or $result.outcome -eq 'Passed' -or $result.outcome -eq 'NotExecuted') { continue }
            Write-Host "FAILED $($result.testName) ($($result.duration))" -ForegroundColor Red
            $message = $result.Output.ErrorInfo.Message
            if ($message) {
                ($message -split "`n" | Select-Object -First 6) | ForEach-Object { Write-Host "    $_" }
            }
        }
    }
}

function Invoke-Test {
    Install-Postgres | Out-Null
    Install-Chromium
    Install-HAProxy | Out-Null
    Install-Wrk | Out-Null
    Invoke-Build
    $results = Join-Path $Root 'artifacts/test-results'
    if (Test-Path $results) { Remove-Item $results -Recurse -Force }
    New-Item -ItemType Directory -Force -Path $results | Out-Null

    $projects = Get-ChildItem (Join-Path $Root 'test') -Recurse -Filter '*.Tests.csproj' | Sort-Object Name
    $trxFiles = @()
    $broken = @()
    foreach ($project in $projects) {
        $name = $project.BaseName
        $trx = Join-Path $results "$name.trx"
        Write-Step "Testing $name"
        & dotnet test $project.FullName -c $Configuration --no-build --nologo --results-directory $results `
            --logger "trx;LogFileName=$name.trx" --logger 'console;verbosity=normal'
        $exit = $LASTEXITCODE
        if (Test-Path $trx) {
            $trxFiles += $trx
        }
        if (-not (Test-Path $trx) -or ($exit -ne 0 -and (Get-TestCounts @($trx)).failed -eq 0)) {
            # The test host crashed or the run was aborted: no trustworthy counts for this project.
            $broken += $name
        }
    }

    $counts = Get-TestCounts $trxFiles
    $failed = $counts.failed + $broken.Count
    Write-FailedTests $trxFiles
    if ($broken) {
        Write-Host "Test runs that did not finish: $($broken -join ', ')" -ForegroundColor Red
    }
    Write-Host "$($counts.passed) passed, $failed failed, $($counts.skipped) skipped"
    if ($failed -gt 0 -or $trxFiles.Count -eq 0) {
        exit 1
    }
}

# The benchmarks: ingest writes bench/results/latest.md and latest.json, analytics (with the failure model's
# training) writes analytics.md and analytics.json (all git-ignored).
function Invoke-Bench {
    Install-Postgres | Out-Null
    $wrk = Install-Wrk
    Invoke-Build
    $results = Join-Path $Root 'bench/results'
    $duration = if ($Quick) {
        @{ all = 'about 8 minutes'; ingest = 'about 4 minutes'; analytics = 'about 4 minutes'; pipeline = 'about 3 minutes'; scale = 'about 2 minutes' }[$Part]
    } else {
        @{ all = 'about 30 minutes'; ingest = 'about 20 minutes'; analytics = 'about 10 minutes'; pipeline = 'about 6 minutes'; scale = 'about 15 minutes' }[$Part]
    }
    Write-Step "Running the benchmark, part $Part ($duration$(if ($Quick) { ', quick: short runs, small counts' }))"
    $arguments = @($results, '--part', $Part, '--wrk', $wrk, '--concurrency', $Connections)
    if ($Quick) {
        $arguments += @('--quick', 'true', '--fleet-sensors', '10000', '--heartbeats-per-sensor', '100')
    }
    & dotnet (Join-Path $Root "bench/Sensors360.Bench/bin/$Configuration/net10.0/Sensors360.Bench.dll") @arguments
    if ($LASTEXITCODE -ne 0) {
        Stop-Build 'The benchmark failed (see the messages above).'
    }
}

# The partition trial (docs/scaling.md): bench/results/partition.md and partition.json (git-ignored).
function Invoke-PartitionTrial {
    Install-Postgres | Out-Null
    Invoke-Build
    $results = Join-Path $Root 'bench/results'
    Write-Step "Running the partition trial ($(if ($Quick) { 'quick: about 1 minute, small counts' } else { 'about 12 minutes' }))"
    $arguments = @($results, '--part', 'partition')
    if ($Quick) {
        $arguments += @('--quick', 'true')
    }
    & dotnet (Join-Path $Root "bench/Sensors360.Bench/bin/$Configuration/net10.0/Sensors360.Bench.dll") @arguments
    if ($LASTEXITCODE -ne 0) {
        Stop-Build 'The partition trial failed (see the messages above).'
    }
}

# The soak benchmark: the cluster's topology (3 silos, HAProxy, PostgreSQL) at half its measured peak for -Minutes,
# memory, CPU, p99 and errors per minute (bench/results/soak.md and soak.json, git-ignored).
function Invoke-Soak {
    Install-Postgres | Out-Null
    Install-HAProxy | Out-Null
    Invoke-Build
    $results = Join-Path $Root 'bench/results'
    Write-Step "Running the soak benchmark: 3 silos behind HAProxy, the peak measured, then half of it for $Minutes minutes"
    & dotnet (Join-Path $Root "bench/Sensors360.Bench/bin/$Configuration/net10.0/Sensors360.Bench.dll") $results --part soak --minutes $Minutes
    if ($LASTEXITCODE -ne 0) {
        Stop-Build 'The soak benchmark failed (see the messages above).'
    }
}

switch ($Command) {
    'run' { Invoke-Run }
    'cluster' { Invoke-Cluster }
    'soak' { Invoke-Soak }
    'test' { Invoke-Test }
    'bench' { if ($Partition) { Invoke-PartitionTrial } else { Invoke-Bench } }
    'build' { Invoke-Build }
    'migrate' { Invoke-Migrate }
    'backup' { Invoke-Backup }
    'restore' { Invoke-Restore }
    default {
        Write-Host 'Usage: dotnet tool restore && dotnet pwsh ./build.ps1 <command>'
        Write-Host '  run    start the server on http://localhost:5000 (with a private PostgreSQL under .data/ unless ConnectionStrings__Postgres is set)'
        Write-Host '         -Https: serve https://localhost:5001 with a self-signed certificate made once under .data/https/'
        Write-Host '  test   build and run every test; ends with "N passed, N failed, N skipped"'
        Write-Host '  bench  run the ingest and analytics (fleet answers, failure model training) benchmarks (-Part ingest|analytics for one, -Part pipeline for the pipeline comparison, -Partition for the partition trial alone, -Quick to check the machinery, -Connections N for the connections of the ingest, pipeline and scale peaks, 256); results in bench/results/'
        Write-Host '  build  build the solution'
        Write-Host '  cluster  start PostgreSQL, -Silos silos (3) and HAProxy locally; one URL, http://127.0.0.1:5000'
        Write-Host '  soak   3 silos behind HAProxy at half their measured peak for -Minutes (30); results in bench/results/soak.md'
        Write-Host '  migrate  apply orleans-postgres.sql and schema/ as the owner role (ConnectionStrings__Postgres, else the private PostgreSQL)'
        Write-Host '  backup -To DIR    pg_dump the database (ConnectionStrings__Postgres, else the private PostgreSQL) into DIR with a manifest'
        Write-Host '  restore -From DIR pg_restore a backup into an empty database (-Force: replace what it holds)'
    }
}
