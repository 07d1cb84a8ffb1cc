#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds, runs and tests Sensors 360.

.DESCRIPTION
    dotnet tool restore && dotnet pwsh ./build.ps1 <command>

    run    Starts the server on http://localhost:5000. Without ConnectionStrings__Postgres it first
           creates and starts a private PostgreSQL under .data/ on a free port, and stops it again on Ctrl+C.
    test   Builds everything and runs every test project; ends with "N passed, N failed, N skipped".
    bench  Runs the benchmarks: ingest (bench/results/latest.md and latest.json), then analytics: the fleet's
           answers and the failure model's training at 100,000 sensors (bench/results/analytics.md and
           analytics.json). -Part ingest or -Part analytics runs one of them.
    build  Builds the solution (Release).

    Missing system prerequisites (the PostgreSQL server, Chromium for the browser tests) are installed with
    apt-get on Debian and Ubuntu.
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('run', 'test', 'bench', 'build', 'help')]
    [string] $Command = 'help',

    # run: start the server without the demo fleet.
    [switch] $NoFleet,

    # bench: which part to run (all: ingest, then analytics).
    [ValidateSet('all', 'ingest', 'analytics')]
    [string] $Part = 'all'
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

# The PostgreSQL server binaries: found, or installed with apt-get, or one sentence saying what to install.
function Install-Postgres {
    $bin = Find-PostgresBin
    if ($bin) {
        return $bin
    }
    if (-not ($IsLinux -and (Test-Path '/etc/debian_version') -and (Get-Command apt-get -ErrorAction SilentlyContinue))) {
        Stop-Build 'PostgreSQL server binaries (initdb, pg_ctl; version 15 or later) are missing: install the PostgreSQL server for your system, or set SENSORS360_PG_BIN to its bin directory, and run again.'
    }
    if (-not (Test-IsRoot) -and -not (Get-Command sudo -ErrorAction SilentlyContinue)) {
        Stop-Build "PostgreSQL server binaries are missing and this user cannot install them: run 'apt-get install postgresql' as root, then run again."
    }
    Write-Step 'Installing the PostgreSQL server (apt-get install postgresql)'
    # Our own clusters live in .data/ and in test directories; the package's default cluster is not needed.
    $createCluster = '/etc/postgresql-common/createcluster.conf'
    if (-not (Test-Path $createCluster)) {
        Invoke-Privileged @('sh', '-c', "mkdir -p /etc/postgresql-common && echo 'create_main_cluster = false' > $createCluster")
    }
    Invoke-Privileged @('env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'update', '-qq')
    Invoke-Privileged @('env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-qq', '--no-install-recommends',
        '-o', 'Dpkg::Options::=--force-confold', 'postgresql')
    $bin = Find-PostgresBin
    if (-not $bin) {
        Stop-Build 'apt-get installed postgresql, but initdb and pg_ctl are still not under /usr/lib/postgresql/<version>/bin: install the PostgreSQL server binaries and run again.'
    }
    return $bin
}

# Chromium for the dashboard's browser tests (Playwright drives it; it never downloads a browser of its own):
# found, or installed with apt-get, or one sentence saying what to install.
function Install-Chromium {
    $chromium = '/usr/bin/chromium'
    if (Test-Path $chromium) {
        return
    }
    if (-not ($IsLinux -and (Test-Path '/etc/debian_version') -and (Get-Command apt-get -ErrorAction SilentlyContinue))) {
        Stop-Build "Chromium is missing at $chromium, where the dashboard's browser tests look for it: install Chromium there (Debian's package chromium) and run again."
    }
    if (-not (Test-IsRoot) -and -not (Get-Command sudo -ErrorAction SilentlyContinue)) {
        Stop-Build "Chromium is missing and this user cannot install it: run 'apt-get install chromium' as root, then run again."
    }
    Write-Step 'Installing Chromium for the browser tests (apt-get install chromium)'
    Invoke-Privileged @('env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'update', '-qq')
    Invoke-Privileged @('env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'chromium')
    if (-not (Test-Path $chromium)) {
        Stop-Build "apt-get installed chromium, but $chromium is still missing: install Chromium at that path and run again."
    }
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
        ConnectionString = "Host=127.0.0.1;Port=$port;Database=sensors360;Username=postgres;Password=$password"
    }
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
            if ((Invoke-WebRequest -Uri "$Url/readyz" -SkipHttpErrorCheck -TimeoutSec 2).StatusCode -eq 200) { return $true }
        }
        catch { }
        Start-Sleep -Milliseconds 500
    }
    return $false
}

function Invoke-Run {
    $bin = $null
    $postgres = $null
    $server = $null
    $fleet = $null
    if ([string]::IsNullOrWhiteSpace($env:ConnectionStrings__Postgres)) {
        $bin = Install-Postgres
        $postgres = Start-PrivatePostgres $bin
        $env:ConnectionStrings__Postgres = $postgres.ConnectionString
    }
    if ($postgres -and [string]::IsNullOrWhiteSpace($env:Sensors360__Bootstrap__AdminPassword)) {
        # The private database gets an admin with a random password, made once and kept beside the data.
        $adminPasswordFile = Join-Path $DataDir 'admin-password'
        if (-not (Test-Path $adminPasswordFile)) {
            Set-Content -Path $adminPasswordFile -Value (New-Password) -NoNewline
            if ($IsLinux) { Invoke-Native 'chmod' @('600', $adminPasswordFile) }
        }
        $env:Sensors360__Bootstrap__AdminPassword = Get-Content $adminPasswordFile -Raw
    }
    $adminUser = if ($env:Sensors360__Bootstrap__AdminUser) { $env:Sensors360__Bootstrap__AdminUser } else { 'admin' }
    $operatorPassword = if ($env:SENSORS360_PASSWORD) { $env:SENSORS360_PASSWORD } else { $env:Sensors360__Bootstrap__AdminPassword }
    if ([string]::IsNullOrWhiteSpace($env:ASPNETCORE_URLS)) {
        $env:ASPNETCORE_URLS = 'http://localhost:5000'
    }
    # The demo: sensors stay silent for a minute before an alert, and silence is checked every 10 s.
    if (-not $NoFleet -and [string]::IsNullOrWhiteSpace($env:Sensors360__Monitoring__SilenceCheckPeriod)) {
        $env:Sensors360__Monitoring__SilenceCheckPeriod = '00:00:10'
    }
    $url = Get-LocalUrl $env:ASPNETCORE_URLS
    try {
        Invoke-Build
        Write-Host ''
        Write-Host 'Sensors 360 is starting:' -ForegroundColor Green
        Write-Host "  server        $url  (GET /healthz, /readyz; API under /api, see docs/api.md)"
        if ($postgres) {
            Write-Host "  operator      user '$adminUser', password $env:Sensors360__Bootstrap__AdminPassword  (kept in $(Join-Path $DataDir 'admin-password'))"
            Write-Host "  PostgreSQL    127.0.0.1:$($postgres.Port), database sensors360, user postgres"
            Write-Host "                password in $($postgres.PasswordFile), data in $($postgres.Cluster), log $($postgres.Log)"
        }
        else {
            Write-Host '  PostgreSQL    the database in ConnectionStrings__Postgres'
        }
        if ($NoFleet) {
            Write-Host '  demo fleet    off (-NoFleet)'
        }
        elseif (-not $operatorPassword) {
            Write-Host "  demo fleet    off: set SENSORS360_PASSWORD to an operator's password to start it"
        }
        else {
            Write-Host "  demo fleet    200 simulated sensors, a heartbeat every 5 s, short Weibull lifespans, 1-minute silence"
            Write-Host "                threshold, dead sensors replaced; log $(Join-Path $DataDir 'simulator.log'), truth $(Join-Path $DataDir 'fleet-truth.csv')"
        }
        Write-Host '  Ctrl+C stops everything' -NoNewline
        if ($postgres) { Write-Host ', the private PostgreSQL too.' } else { Write-Host '.' }
        Write-Host ''

        # The server shares this console; the fleet writes to a log so its status line does not mix in.
        $server = Start-Process -FilePath 'dotnet' -ArgumentList @((Join-Path $ServerOutput 'Sensors360.Server.dll')) `
            -WorkingDirectory $ServerOutput -NoNewWindow -PassThru
        if (-not $NoFleet -and $operatorPassword) {
            if (Wait-Ready $url $server) {
                New-Item -ItemType Directory -Force -Path $DataDir | Out-Null
                $env:SENSORS360_PASSWORD = $operatorPassword
                $fleet = Start-Process -FilePath 'dotnet' -WorkingDirectory $Root -PassThru `
                    -RedirectStandardOutput (Join-Path $DataDir 'simulator.log') -RedirectStandardError (Join-Path $DataDir 'simulator-errors.log') `
                    -ArgumentList @((Join-Path $SimulatorOutput 'Sensors360.Simulator.dll'), 'fleet', '--server', $url, '--user', $adminUser,
                        '--sensors', '200', '--interval', '5s', '--threshold', '60', '--lifespan-scale', '600s', '--replace',
                        '--truth', (Join-Path $DataDir 'fleet-truth.csv'))
                Write-Host "Demo fleet started (pid $($fleet.Id))." -ForegroundColor Green
            }
            elseif (-not $server.HasExited) {
                Write-Host 'The server did not become ready within 2 minutes; the demo fleet was not started.' -ForegroundColor Yellow
            }
        }
        $server.WaitForExit()
    }
    finally {
        foreach ($process in @($fleet, $server)) {
            if ($process -and -not $process.HasExited) {
                & kill -INT $process.Id 2>$null
                if (-not $process.WaitForExit(20000)) { $process.Kill($true) }
            }
        }
        if ($postgres) {
            Stop-PrivatePostgres $bin $postgres
        }
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
    Invoke-Build
    $results = Join-Path $Root 'bench/results'
    $duration = @{ all = 'about 15 minutes'; ingest = 'about 5 minutes'; analytics = 'about 10 minutes' }[$Part]
    Write-Step "Running the benchmark, part $Part ($duration)"
    & dotnet (Join-Path $Root "bench/Sensors360.Bench/bin/$Configuration/net10.0/Sensors360.Bench.dll") $results --part $Part
    if ($LASTEXITCODE -ne 0) {
        Stop-Build 'The benchmark failed (see the messages above).'
    }
}

switch ($Command) {
    'run' { Invoke-Run }
    'test' { Invoke-Test }
    'bench' { Invoke-Bench }
    'build' { Invoke-Build }
    default {
        Write-Host 'Usage: dotnet tool restore && dotnet pwsh ./build.ps1 <command>'
        Write-Host '  run    start the server on http://localhost:5000 (with a private PostgreSQL under .data/ unless ConnectionStrings__Postgres is set)'
        Write-Host '  test   build and run every test; ends with "N passed, N failed, N skipped"'
        Write-Host '  bench  run the ingest and analytics (fleet answers, failure model training) benchmarks (-Part ingest|analytics for one); results in bench/results/'
        Write-Host '  build  build the solution'
    }
}
