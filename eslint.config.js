// `make lint` runs this over the TypeScript kit, agents and web console, with type information.
import eslint from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["**/dist/**", "**/src/gen/**", "node_modules/**", ".venv/**", "examples/**/*.go"] },
  {
    files: [
      "kits/typescript/src/**/*.ts",
      "services/typescript/src/**/*.ts",
      "examples/node/src/**/*.ts",
      "console/src/**/*.ts",
      "console/src/**/*.tsx",
    ],
    extends: [eslint.configs.recommended, ...tseslint.configs.strictTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true }],
    },
  },
  {
    // Tests read optional protobuf fields defensively, whatever the types promise.
    files: ["**/src/test/**/*.ts"],
    rules: { "@typescript-eslint/no-unnecessary-condition": "off" },
  },
);
