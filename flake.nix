{
  description = "yoi: a workspace backend that hosts LLM Workers";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    flake-utils.url = "github:numtide/flake-utils";
  };

  outputs = { self, nixpkgs, flake-utils }:
    flake-utils.lib.eachDefaultSystem (system:
      let
        pkgs = import nixpkgs { inherit system; };

        # The web console, built from its package-lock.json (no hash needed).
        web = pkgs.buildNpmPackage {
          pname = "yoi-web";
          version = "0.1.0";
          src = ./web/workspace;
          npmDeps = pkgs.importNpmLock { npmRoot = ./web/workspace; };
          npmConfigHook = pkgs.importNpmLock.npmConfigHook;
          nodejs = pkgs.nodejs_20;
          buildPhase = ''
            runHook preBuild
            node node_modules/vite/bin/vite.js build
            runHook postBuild
          '';
          installPhase = ''
            runHook preInstall
            cp -r dist $out
            runHook postInstall
          '';
        };

        # The one binary, from Cargo.lock, with the console embedded.
        yoi = pkgs.rustPlatform.buildRustPackage {
          pname = "yoi";
          version = "0.1.0";
          src = ./.;
          cargoLock.lockFile = ./Cargo.lock;
          cargoBuildFlags = [ "-p" "yoi" ];
          YOI_WEB_DIST = "${web}";
          # The test suite starts servers and a browser: run it with scripts/test-all.
          doCheck = false;
          meta = {
            description = "A workspace backend that hosts LLM Workers";
            mainProgram = "yoi";
          };
        };
      in
      {
        packages = {
          inherit yoi web;
          default = yoi;
        };

        devShells.default = pkgs.mkShell {
          packages = [
            pkgs.cargo
            pkgs.rustc
            pkgs.clippy
            pkgs.rustfmt
            pkgs.nodejs_20
            pkgs.deno
            pkgs.chromium
            pkgs.tmux
          ];
        };
      });
}
