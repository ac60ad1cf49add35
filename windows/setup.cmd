@echo off
rem Vigie agent for Windows: install, enroll and start the service; run from an administrator
rem prompt.  setup.cmd --collector https://vigie.example.org --enroll vge_... [--site NAME]
rem          setup.cmd --uninstall [--purge]
setlocal
"%~dp0python\python.exe" -m agent.winsetup %*
exit /b %ERRORLEVEL%
